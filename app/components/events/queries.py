"""SQL of the outbox: record an event, the pending ones in order, a handler's once-only mark, failures."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.db import fetch


async def insert(key: str, kind: str, member_id: int | None, store_id: int | None, payload: dict, at: datetime) -> bool:
    """The event, in the caller's transaction; False when an event with this key was recorded before."""
    rows = await fetch(
        "INSERT INTO outbox (key, kind, member, store, payload, created_at, attempts, last_error)"
        " VALUES ({}, {}, {}, {}, {}, {}, 0, '') ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        kind,
        member_id,
        store_id,
        json.dumps(payload, ensure_ascii=False),
        at,
    )
    return bool(rows)


async def pending(after_id: int, limit: int, max_attempts: int) -> list[dict[str, Any]]:
    """Events not yet handled by every handler, oldest first, leaving out those that failed too often."""
    return await fetch(
        "SELECT id, key, kind, member, store, payload, created_at FROM outbox"
        " WHERE dispatched_at IS NULL AND id > {} AND attempts < {} ORDER BY id LIMIT {}",
        after_id,
        max_attempts,
        limit,
    )


async def mark_handled(event_id: int, handler: str, at: datetime) -> bool:
    """Claim (event, handler) in the caller's transaction; False when that handler already handled it."""
    rows = await fetch(
        "INSERT INTO outbox_handled (event, handler, handled_at) VALUES ({}, {}, {})"
        " ON CONFLICT (event, handler) DO NOTHING RETURNING id",
        event_id,
        handler,
        at,
    )
    return bool(rows)


async def mark_dispatched(event_id: int, at: datetime) -> None:
    """Every handler has handled the event."""
    await fetch("UPDATE outbox SET dispatched_at = {} WHERE id = {} AND dispatched_at IS NULL", at, event_id)


async def record_failure(event_id: int, error: str) -> None:
    """One more failed run of the event's handlers, with what went wrong."""
    await fetch("UPDATE outbox SET attempts = attempts + 1, last_error = {} WHERE id = {}", error[:2000], event_id)


async def failed(max_attempts: int, limit: int = 100) -> list[dict[str, Any]]:
    """Events that failed `max_attempts` times and wait for a person, newest first, with the member's number."""
    return await fetch(
        "SELECT o.id, o.key, o.kind, o.member, o.store, o.attempts, o.last_error, o.created_at, m.member_no"
        " FROM outbox o LEFT JOIN member m ON m.id = o.member"
        " WHERE o.dispatched_at IS NULL AND o.attempts >= {} ORDER BY o.id DESC LIMIT {}",
        max_attempts,
        limit,
    )


async def retry(event_id: int, max_attempts: int) -> bool:
    """Give a failed event another round of attempts; False when no such event waits for a person."""
    rows = await fetch(
        "UPDATE outbox SET attempts = 0 WHERE id = {} AND dispatched_at IS NULL AND attempts >= {} RETURNING id",
        event_id,
        max_attempts,
    )
    return bool(rows)
