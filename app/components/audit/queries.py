"""The SQL of `audit_event`, the only module that touches that table: events are inserted, never changed.

A page of events joins the store's code and the member's number and name (display only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db import fetch
from app.tables import AuditEvent

_PAGE_SQL = (
    "SELECT a.id, a.at, a.username, a.role, a.action, a.channel, a.client_addr, a.detail,"
    " st.code AS store_code, m.member_no, m.name AS member_name"
    " FROM audit_event a LEFT JOIN store st ON st.id = a.store LEFT JOIN member m ON m.id = a.member"
)
# What the audit page filters by: the condition for each field (all of them constant SQL).
FILTERS = {
    "username": "a.username = {}",
    "action": "a.action = {}",
    "member_no": "m.member_no = {}",
    "store_code": "st.code = {}",
    "from": "a.at >= {}",
    "before": "a.at < {}",
}


async def insert_event(
    at: datetime,
    staff_id: int,
    username: str,
    role: str,
    store_id: int | None,
    member_id: int | None,
    action: str,
    channel: str,
    client_addr: str,
    detail: str,
) -> None:
    """Append one event."""
    await fetch(
        "INSERT INTO audit_event (at, staff, username, role, store, member, action, channel, client_addr, detail)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        at,
        staff_id,
        username,
        role,
        store_id,
        member_id,
        action,
        channel,
        client_addr,
        detail,
    )


async def page_rows(conditions: list[tuple[str, Any]], limit: int, offset: int) -> list[dict[str, Any]]:
    """Events matching every (FILTERS key, value), newest first: `limit` of them after `offset`."""
    where = " AND ".join(FILTERS[name] for name, _value in conditions)
    return await fetch(
        _PAGE_SQL + (" WHERE " + where if where else "") + " ORDER BY a.at DESC, a.id DESC LIMIT {} OFFSET {}",
        *(value for _name, value in conditions),
        limit,
        offset,
    )


async def count(action: str | None = None) -> int:
    """How many events (of one action) exist."""
    query = AuditEvent.count()
    if action:
        query = query.where(AuditEvent.action == action)
    return await query
