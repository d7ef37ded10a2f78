"""The care engine as an event handler: enrol on a sale, a registration, a condition or a reading; leave journeys
on an opt-out or a merge. The events package runs it once per event, in the transaction that records that."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components import events
from app.components.care import queries
from app.components.care.enrolment import enrol_from_event
from app.components.core.clock import store_today
from app.components.events import Event
from app.settings import get_settings

ENROLLING = frozenset(
    {events.SALE_COMPLETED, events.MEMBER_REGISTERED, events.CONDITION_ADDED, events.VITAL_OUT_OF_RANGE}
)
# A withdrawn consent → the purposes of the journeys the member leaves at once.
_WITHDRAWN_EXITS = {
    "health_data": ("care",),
    "care_messages": ("care",),
    "marketing_sms": ("marketing",),
    "marketing_wechat": ("marketing",),
}


async def on_event(event: Event) -> None:
    """Handle one domain event (in the dispatcher's transaction)."""
    now = datetime.now(UTC)
    if event.member_id is None:
        return
    if event.kind in ENROLLING:
        await enrol_from_event(event.kind, event.member_id, event.payload, store_today(), get_settings().timezone, now)
    elif event.kind == events.CONSENT_CHANGED and not event.payload.get("granted"):
        purposes = _WITHDRAWN_EXITS.get(str(event.payload.get("purpose")), ())
        if purposes:
            await queries.exit_member(event.member_id, "opted_out", now, purposes)
    elif event.kind == events.MEMBER_MERGED:
        merged = int(event.payload.get("from_id") or 0)
        if merged:
            await queries.exit_member(merged, "merged", now, ("care", "marketing", "service"))


CARE_HANDLER = events.Handler("care", ENROLLING | {events.CONSENT_CHANGED, events.MEMBER_MERGED}, on_event)
