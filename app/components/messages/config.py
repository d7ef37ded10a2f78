"""The chain's message settings: the weekly cap, the attempts before giving up, each store's group robot.

One row of `chain_setting` (name "messages") holds them as JSON; anything not configured reads as its default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.messages import queries
from app.i18n import _

MESSAGES = "messages"
CHANGE_ACTION = "messages.settings_change"
ROBOT_KINDS = ("wecom", "dingtalk")
WEEKLY_CAP_MAX = 50
ATTEMPTS_MAX = 20


@dataclass(frozen=True)
class MessageSettings:
    """At most `weekly_cap` care and marketing messages per member per rolling 7 days; `max_attempts` deliveries
    before a message fails for good; `robots`: store id → (kind, webhook URL)."""

    weekly_cap: int = 3
    max_attempts: int = 5
    robots: dict[int, tuple[str, str]] = field(default_factory=dict)


def settings_from(raw: Any) -> MessageSettings:
    """The settings from stored JSON; what is missing or out of range reads as the default."""
    stored = json.loads(raw) if isinstance(raw, str) else (raw or {})
    if not isinstance(stored, dict):
        stored = {}
    default = MessageSettings()
    cap = stored.get("weekly_cap")
    attempts = stored.get("max_attempts")
    robots: dict[int, tuple[str, str]] = {}
    for store_id, robot in (stored.get("robots") or {}).items():
        if (
            isinstance(robot, dict)
            and robot.get("kind") in ROBOT_KINDS
            and str(robot.get("url", "")).startswith("http")
        ):
            robots[int(store_id)] = (robot["kind"], robot["url"])
    return MessageSettings(
        weekly_cap=cap if isinstance(cap, int) and 0 <= cap <= WEEKLY_CAP_MAX else default.weekly_cap,
        max_attempts=attempts if isinstance(attempts, int) and 1 <= attempts <= ATTEMPTS_MAX else default.max_attempts,
        robots=robots,
    )


async def message_settings() -> MessageSettings:
    """The chain's message settings as configured now."""
    return settings_from(await queries.chain_setting(MESSAGES))


async def save_message_settings(new: MessageSettings, actor: StaffUser | None) -> None:
    """Store the settings (validated; audited when a person changed them)."""
    errors: dict[str, str] = {}
    if not 0 <= new.weekly_cap <= WEEKLY_CAP_MAX:
        errors["weekly_cap"] = _("Between 0 and %(max)s messages a week.") % {"max": WEEKLY_CAP_MAX}
    if not 1 <= new.max_attempts <= ATTEMPTS_MAX:
        errors["max_attempts"] = _("Between 1 and %(max)s attempts.") % {"max": ATTEMPTS_MAX}
    for kind, url in new.robots.values():
        if kind not in ROBOT_KINDS or not url.startswith(("http://", "https://")):
            errors["robots"] = _("A robot is WeCom or DingTalk with a webhook URL starting http:// or https://.")
    if errors:
        raise ValidationFailed(errors)
    value = {
        "weekly_cap": new.weekly_cap,
        "max_attempts": new.max_attempts,
        "robots": {str(k): {"kind": kind, "url": url} for k, (kind, url) in new.robots.items()},
    }
    await queries.save_chain_setting(MESSAGES, json.dumps(value), datetime.now(UTC), actor.id if actor else None)
    if actor is not None:
        await audit.record(actor, CHANGE_ACTION, None, f"weekly_cap={new.weekly_cap}")
