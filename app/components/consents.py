"""Consents: an append-only ledger per purpose; the member row caches what is in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.components import timeline
from app.components.auth import StaffUser
from app.components.errors import ValidationFailed
from app.db import fetch
from app.i18n import _

HEALTH_DATA = "health_data"
MARKETING_SMS = "marketing_sms"
MARKETING_WECHAT = "marketing_wechat"
KIOSK_DISPLAY = "kiosk_display"
PURPOSES = (HEALTH_DATA, MARKETING_SMS, MARKETING_WECHAT, KIOSK_DISPLAY)
# The cached column on `member` for each purpose.
COLUMNS = {
    HEALTH_DATA: "consent_health",
    MARKETING_SMS: "consent_marketing_sms",
    MARKETING_WECHAT: "consent_marketing_wechat",
    KIOSK_DISPLAY: "consent_kiosk",
}
# The version of the consent text the member was shown; bump when the wording changes.
TEXT_VERSION = "2026-11"
CHANNELS = ("counter", "kiosk", "api", "import")


def purpose_label(purpose: str) -> str:
    """A purpose's name in the current language."""
    return {
        HEALTH_DATA: _("Processing of health data"),
        MARKETING_SMS: _("Marketing messages by SMS"),
        MARKETING_WECHAT: _("Marketing messages by WeChat"),
        KIOSK_DISPLAY: _("Showing health data on the kiosk"),
    }.get(purpose, purpose)


@dataclass(frozen=True)
class ConsentState:
    """What is in force for one purpose, and since when."""

    purpose: str
    granted: bool
    at: datetime | None
    channel: str
    staff: str | None
    text_version: str


async def set_consent(
    member_id: int,
    purpose: str,
    granted: bool,
    actor: StaffUser | None,
    channel: str = "counter",
    text_version: str = TEXT_VERSION,
) -> None:
    """Record a grant or withdrawal. Call inside the caller's transaction; it appends and updates the cache."""
    if purpose not in PURPOSES:
        raise ValidationFailed({"purpose": _("Unknown consent purpose.")})
    if channel not in CHANNELS:
        raise ValidationFailed({"channel": _("Unknown channel.")})
    now = datetime.now(UTC)
    await fetch(
        "INSERT INTO consent_event (member, purpose, granted, at, channel, staff, text_version)"
        " VALUES ({}, {}, {}, {}, {}, {}, {})",
        member_id,
        purpose,
        granted,
        now,
        channel,
        actor.id if actor else None,
        text_version,
    )
    await fetch(f"UPDATE member SET {COLUMNS[purpose]} = {{}} WHERE id = {{}}", granted, member_id)
    verb = _("granted") if granted else _("withdrawn")
    await timeline.record_event(member_id, timeline.CONSENT, f"{purpose_label(purpose)}: {verb}", actor, ref=purpose)


async def current(member_id: int) -> dict[str, ConsentState]:
    """The state in force per purpose (never asked → not granted, no time)."""
    rows = await fetch(
        "SELECT c.purpose, c.granted, c.at, c.channel, c.text_version, s.display_name AS staff"
        " FROM consent_event c LEFT JOIN staff s ON s.id = c.staff WHERE c.member = {} ORDER BY c.at, c.id",
        member_id,
    )
    state = {p: ConsentState(p, False, None, "", None, "") for p in PURPOSES}
    for r in rows:
        state[r["purpose"]] = ConsentState(
            r["purpose"], bool(r["granted"]), r["at"], r["channel"], r["staff"], r["text_version"]
        )
    return state


async def history(member_id: int) -> list[ConsentState]:
    """Every grant and withdrawal, newest first."""
    rows = await fetch(
        "SELECT c.purpose, c.granted, c.at, c.channel, c.text_version, s.display_name AS staff"
        " FROM consent_event c LEFT JOIN staff s ON s.id = c.staff WHERE c.member = {} ORDER BY c.at DESC, c.id DESC",
        member_id,
    )
    return [
        ConsentState(r["purpose"], bool(r["granted"]), r["at"], r["channel"], r["staff"], r["text_version"])
        for r in rows
    ]


async def has_health_consent(member_id: int) -> bool:
    """Whether health data may be stored for this member (cached column, kept in step with the ledger)."""
    rows = await fetch("SELECT consent_health FROM member WHERE id = {}", member_id)
    return bool(rows and rows[0]["consent_health"])


async def require_health_consent(member_id: int) -> None:
    """Refuse to store health data without the member's consent, saying why."""
    if not await has_health_consent(member_id):
        raise ValidationFailed(
            {
                "consent": _(
                    "The member has not consented to the processing of health data, so it cannot be stored. "
                    "Ask for consent first."
                )
            }
        )
