"""The member timeline: one append-only stream that every feature adds its events to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.components.auth import StaffUser
from app.db import fetch

# Kinds used so far; later features add their own (purchase, follow_up, message, complaint …).
REGISTERED = "registered"
EDITED = "edited"
VERIFIED = "verified"
ALLERGY = "allergy"
CONDITION = "condition"
VITAL = "vital"
CONSENT = "consent"
HOUSEHOLD = "household"
MERGED = "merged"
IMPORTED = "imported"


@dataclass(frozen=True)
class TimelineEvent:
    """One line of the timeline."""

    at: datetime
    kind: str
    summary: str
    staff: str | None
    store: str | None
    ref: str


async def record_event(member_id: int, kind: str, summary: str, actor: StaffUser | None = None, ref: str = "") -> None:
    """Append an event; call inside the transaction that made the change so both land or neither."""
    await fetch(
        "INSERT INTO member_event (member, at, kind, summary, staff, store, ref) VALUES ({}, {}, {}, {}, {}, {}, {})",
        member_id,
        datetime.now(UTC),
        kind,
        summary,
        actor.id if actor else None,
        actor.store_id if actor else None,
        ref,
    )


async def events(member_id: int, limit: int = 100, before_id: int | None = None) -> list[TimelineEvent]:
    """The newest events first."""
    where, args = "e.member = {}", [member_id]
    if before_id:
        where += " AND e.id < {}"
        args.append(before_id)
    rows = await fetch(
        "SELECT e.at, e.kind, e.summary, e.ref, s.display_name AS staff, st.name AS store FROM member_event e"
        " LEFT JOIN staff s ON s.id = e.staff LEFT JOIN store st ON st.id = e.store"
        f" WHERE {where} ORDER BY e.at DESC, e.id DESC LIMIT {int(limit)}",
        *args,
    )
    return [TimelineEvent(r["at"], r["kind"], r["summary"], r["staff"], r["store"], r["ref"]) for r in rows]
