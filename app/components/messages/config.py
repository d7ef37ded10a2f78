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


URL_MAX = 500


def _bounded_int(raw: str, low: int, high: int) -> int | None:
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


def parse_settings_form(form: dict[str, str], store_ids: list[int]) -> MessageSettings:
    """The settings as the form typed them (`weekly_cap`, `max_attempts`, `robot_kind_<store>`,
    `robot_url_<store>`); ValidationFailed names each bad field."""
    errors: dict[str, str] = {}
    cap = _bounded_int(form.get("weekly_cap", ""), 0, WEEKLY_CAP_MAX)
    if cap is None:
        errors["weekly_cap"] = _("Between 0 and %(max)s messages a week.") % {"max": WEEKLY_CAP_MAX}
    attempts = _bounded_int(form.get("max_attempts", ""), 1, ATTEMPTS_MAX)
    if attempts is None:
        errors["max_attempts"] = _("Between 1 and %(max)s attempts.") % {"max": ATTEMPTS_MAX}
    robots: dict[int, tuple[str, str]] = {}
    for store_id in store_ids:
        kind = str(form.get(f"robot_kind_{store_id}") or "").strip()
        url = str(form.get(f"robot_url_{store_id}") or "").strip()
        if not kind and not url:
            continue
        if kind not in ROBOT_KINDS:
            errors[f"robot_kind_{store_id}"] = _("Choose WeCom or DingTalk.")
        if not url.startswith(("http://", "https://")) or len(url) > URL_MAX:
            errors[f"robot_url_{store_id}"] = _(
                "A webhook URL starting http:// or https://, at most %(max)s characters."
            ) % {"max": URL_MAX}
        robots[store_id] = (kind, url)
    if errors:
        raise ValidationFailed(errors)
    return MessageSettings(weekly_cap=cap or 0, max_attempts=attempts or 1, robots=robots)


async def stores() -> list[dict]:
    """The chain's active stores (id, code, name), for the robot settings."""
    return await queries.stores()


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
