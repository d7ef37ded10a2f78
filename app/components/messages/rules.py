"""The rules a message passes at send time: consent, the member's own switch, quiet hours, the weekly cap.

Decided when the message is due, not when it was queued, so a consent withdrawn in between stops it.
- marketing: the member's `marketing_sms` consent in force;
- care: `health_data` consent in force and care reminders not turned off (`care_messages` withdrawn); never
  asked about care reminders counts as on;
- service and staff notices: no consent needed (a member's STOP cancels marketing and care, not service);
  staff notices (an urgent task) ignore quiet hours;
- a merged-away or unknown member: suppressed;
- quiet hours 21:00–08:00 in the store's zone: deferred to the next 08:00 there, never dropped;
- at most `weekly_cap` care and marketing messages per member per rolling 7 days: a care message over the cap is
  deferred until the oldest of those falls out of the window; a marketing message is suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.components.messages.templates import CARE, MARKETING, STAFF

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)
WINDOW = timedelta(days=7)
CAPPED = (CARE, MARKETING)
SEND, DEFER, SUPPRESS = "send", "defer", "suppress"
# Reason codes (shown to managers through `reason_label`).
NO_MARKETING_CONSENT = "no_marketing_consent"
NO_HEALTH_CONSENT = "no_health_consent"
CARE_OFF = "care_off"
MERGED = "member_merged"
NO_MEMBER = "no_member"
NO_PHONE = "no_phone"
QUIET_HOURS = "quiet_hours"
WEEKLY_CAP = "weekly_cap"
OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class Decision:
    """What to do with a due message now: send, defer until `until`, or suppress; `reason` says why."""

    action: str
    reason: str = ""
    until: datetime | None = None


def quiet_until(now: datetime, zone: str) -> datetime | None:
    """The end of the quiet hours (08:00 local, as UTC-aware) when `now` is within 21:00–08:00 local, else None.

    21:00:00 is quiet, 08:00:00 is not."""
    tz = ZoneInfo(zone or "Asia/Shanghai")
    local = now.astimezone(tz)
    clock = local.time()
    if QUIET_UNTIL <= clock < QUIET_FROM:
        return None
    day = local.date() if clock < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz).astimezone(now.tzinfo)


def consent_decision(purpose: str, consents: dict[str, bool | None]) -> Decision | None:
    """Suppressed for want of consent (None: the purpose's consents allow it)."""
    if purpose == MARKETING and not consents.get("marketing_sms"):
        return Decision(SUPPRESS, NO_MARKETING_CONSENT)
    if purpose == CARE:
        if not consents.get("health_data"):
            return Decision(SUPPRESS, NO_HEALTH_CONSENT)
        if consents.get("care_messages") is False:
            return Decision(SUPPRESS, CARE_OFF)
    return None


def cap_decision(purpose: str, sent_in_window: Sequence[datetime], cap: int) -> Decision | None:
    """Over the weekly cap: care deferred until a slot frees, marketing suppressed (None: within the cap)."""
    if purpose not in CAPPED or len(sent_in_window) < cap:
        return None
    if purpose == MARKETING or cap == 0:
        return Decision(SUPPRESS, WEEKLY_CAP)
    # The slot frees when the (n - cap + 1)-th newest of the window's messages turns 7 days old.
    oldest_blocking = sorted(sent_in_window)[len(sent_in_window) - cap]
    return Decision(DEFER, WEEKLY_CAP, oldest_blocking + WINDOW)


def decide(
    purpose: str,
    now: datetime,
    zone: str,
    consents: dict[str, bool | None],
    sent_in_window: Sequence[datetime],
    cap: int,
    merged: bool = False,
) -> Decision:
    """Every rule, in order: the member is live, consent, quiet hours, the weekly cap."""
    if merged:
        return Decision(SUPPRESS, MERGED)
    refused = consent_decision(purpose, consents)
    if refused is not None:
        return refused
    until = None if purpose == STAFF else quiet_until(now, zone)
    if until is not None:
        return Decision(DEFER, QUIET_HOURS, until)
    capped = cap_decision(purpose, sent_in_window, cap)
    if capped is not None:
        return capped
    return Decision(SEND)
