"""The SQL of the timeline's table (member_event): the only module that writes it."""

from __future__ import annotations

from datetime import datetime

from app.db import fetch


async def insert_event(
    member_id: int, at: datetime, kind: str, summary: str, staff_id: int | None, store_id: int | None, ref: str
) -> None:
    """Append one event."""
    await fetch(
        "INSERT INTO member_event (member, at, kind, summary, staff, store, ref) VALUES ({}, {}, {}, {}, {}, {}, {})",
        member_id,
        at,
        kind,
        summary,
        staff_id,
        store_id,
        ref,
    )


async def newest(member_id: int, limit: int, before_id: int | None) -> list[dict]:
    """A member's events newest first (older than `before_id` when given), with staff and store names."""
    where, args = "e.member = {}", [member_id]
    if before_id:
        where += " AND e.id < {}"
        args.append(before_id)
    return await fetch(
        "SELECT e.at, e.kind, e.summary, e.ref, s.display_name AS staff, st.name AS store FROM member_event e"
        " LEFT JOIN staff s ON s.id = e.staff LEFT JOIN store st ON st.id = e.store"
        " WHERE " + where + " ORDER BY e.at DESC, e.id DESC LIMIT {}",
        *args,
        int(limit),
    )


async def latest_by_ref(member_id: int, kind: str, ref_prefix: str) -> list[dict]:
    """`ref`, `at`, `staff` (name) of a member's events of `kind` whose ref starts with `ref_prefix`, oldest first."""
    return await fetch(
        "SELECT e.ref, e.at, s.display_name AS staff FROM member_event e LEFT JOIN staff s ON s.id = e.staff"
        " WHERE e.member = {} AND e.kind = {} AND e.ref LIKE {} ORDER BY e.at, e.id",
        member_id,
        kind,
        ref_prefix + "%",
    )
