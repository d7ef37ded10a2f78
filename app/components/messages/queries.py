"""The SQL of the message outbox (`message`): the only module writing it.

The sender also reads, in its batch, what it needs of the member row (name, phone ciphertext, merge link), the
store (zone, name) and the chain's message settings (`chain_setting` "messages").
"""

from __future__ import annotations

import json
from datetime import datetime

from app.db import fetch, for_update, is_sqlite, marks

_COLUMNS = (
    "m.id, m.key, m.member, m.store, m.purpose, m.template, m.params, m.channel, m.language, m.status, m.reason,"
    " m.body, m.not_before, m.attempts, m.last_error, m.claimed_at, m.created_at, m.sent_at"
)


async def insert(
    key: str,
    member_id: int | None,
    store_id: int | None,
    purpose: str,
    template: str,
    params: dict,
    channel: str,
    now: datetime,
) -> bool:
    """One queued message, due now; False when the key exists (nothing written)."""
    rows = await fetch(
        "INSERT INTO message (key, member, store, purpose, template, params, channel, language, status, reason, body,"
        " not_before, attempts, last_error, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, '', 'queued', '', '',"
        " {}, 0, '', {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        member_id,
        store_id,
        purpose,
        template,
        json.dumps(params, ensure_ascii=False),
        channel,
        now,
        now,
    )
    return bool(rows)


async def claim_due(now: datetime, stale_before: datetime, limit: int) -> list[dict]:
    """Mark up to `limit` due messages `sending` (queued/deferred whose time has come, and `sending` ones whose
    claim is older than `stale_before`: a worker died on them) and return them. Concurrent senders never claim
    the same row: PostgreSQL skips rows another sender locked; SQLite has one writer."""
    due = (
        "SELECT id FROM message WHERE (status IN ('queued', 'deferred') AND not_before <= {})"
        " OR (status = 'sending' AND claimed_at < {}) ORDER BY not_before, id LIMIT {}"
    )
    if not is_sqlite():
        due += " FOR UPDATE SKIP LOCKED"
    ids = [r["id"] for r in await fetch(due, now, stale_before, limit)]
    if not ids:
        return []
    await fetch("UPDATE message SET status = 'sending', claimed_at = {} WHERE id IN (" + marks(ids) + ")", now, *ids)
    return await fetch("SELECT " + _COLUMNS + " FROM message m WHERE m.id IN (" + marks(ids) + ") ORDER BY m.id", *ids)


async def recipient(member_id: int) -> dict | None:
    """The member's name, phone ciphertext and merge link."""
    rows = await fetch("SELECT id, name, phone_enc, merged_into FROM member WHERE id = {}", member_id)
    return rows[0] if rows else None


async def store(store_id: int) -> dict | None:
    """The store's name and zone."""
    rows = await fetch("SELECT id, code, name, timezone FROM store WHERE id = {}", store_id)
    return rows[0] if rows else None


async def stores() -> list[dict]:
    """The active stores by code."""
    return await fetch("SELECT id, code, name FROM store WHERE active = {} ORDER BY code", True)


async def sent_since(member_id: int, since: datetime, purposes: tuple[str, ...]) -> list[datetime]:
    """When the member's messages of these purposes were sent since `since`, oldest first."""
    rows = await fetch(
        "SELECT sent_at FROM message WHERE member = {} AND sent_at > {} AND status IN ('sent', 'delivered')"
        " AND purpose IN (" + marks(purposes) + ") ORDER BY sent_at",
        member_id,
        since,
        *purposes,
    )
    return [r["sent_at"] for r in rows]


async def defer(message_id: int, until: datetime, reason: str) -> None:
    """Back to the queue until `until` (quiet hours, the weekly cap)."""
    await fetch(
        "UPDATE message SET status = 'deferred', not_before = {}, reason = {}, claimed_at = NULL WHERE id = {}",
        until,
        reason,
        message_id,
    )


async def suppress(message_id: int, reason: str) -> None:
    """Never sent, with the reason."""
    await fetch(
        "UPDATE message SET status = 'suppressed', reason = {}, claimed_at = NULL WHERE id = {}", reason, message_id
    )


async def rendered(message_id: int, body: str, language: str, channel: str) -> None:
    """The body as it goes out, before the adapter is called."""
    await fetch(
        "UPDATE message SET body = {}, language = {}, channel = {} WHERE id = {}", body, language, channel, message_id
    )


async def mark_sent(message_id: int, now: datetime, attempts: int) -> None:
    """Delivered to the channel."""
    await fetch(
        "UPDATE message SET status = 'sent', sent_at = {}, attempts = {}, reason = '', last_error = '',"
        " claimed_at = NULL WHERE id = {}",
        now,
        attempts,
        message_id,
    )


async def mark_retry(message_id: int, attempts: int, not_before: datetime, error: str) -> None:
    """A failed attempt, tried again at `not_before`."""
    await fetch(
        "UPDATE message SET status = 'queued', attempts = {}, not_before = {}, last_error = {}, reason = 'retry',"
        " claimed_at = NULL WHERE id = {}",
        attempts,
        not_before,
        error[:2000],
        message_id,
    )


async def mark_failed(message_id: int, attempts: int, error: str, reason: str) -> None:
    """Given up: a permanent failure, listed for managers."""
    await fetch(
        "UPDATE message SET status = 'failed', attempts = {}, last_error = {}, reason = {}, claimed_at = NULL"
        " WHERE id = {}",
        attempts,
        error[:2000],
        reason,
        message_id,
    )


async def cancel_pending(member_ids: list[int], purposes: tuple[str, ...], reason: str) -> int:
    """Suppress the members' queued or deferred messages of these purposes; how many."""
    if not member_ids:
        return 0
    rows = await fetch(
        "UPDATE message SET status = 'suppressed', reason = {} WHERE status IN ('queued', 'deferred')"
        " AND member IN (" + marks(member_ids) + ") AND purpose IN (" + marks(purposes) + ") RETURNING id",
        reason,
        *member_ids,
        *purposes,
    )
    return len(rows)


async def lock_by_key(key: str) -> dict | None:
    """One message's status, locked against the sender and a second receipt."""
    rows = await fetch(f"SELECT id, status, reason, attempts FROM message WHERE key = {{}}{for_update()}", key)
    return rows[0] if rows else None


async def mark_delivered(message_id: int) -> None:
    """The gateway's receipt: the phone got it."""
    await fetch("UPDATE message SET status = 'delivered' WHERE id = {} AND status = 'sent'", message_id)


async def by_key(key: str) -> dict | None:
    """One message by key."""
    rows = await fetch("SELECT " + _COLUMNS + " FROM message m WHERE m.key = {}", key)
    return rows[0] if rows else None


async def recent(store_id: int | None, status: str | None, limit: int) -> list[dict]:
    """The newest messages (of one store, of one status), with the store's code and the member's number."""
    clauses, args = [], []
    if store_id is not None:
        clauses.append("m.store = {}")
        args.append(store_id)
    if status:
        clauses.append("m.status = {}")
        args.append(status)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return await fetch(
        "SELECT " + _COLUMNS + ", s.code AS store_code, mb.member_no FROM message m"
        " LEFT JOIN store s ON s.id = m.store LEFT JOIN member mb ON mb.id = m.member"
        + where
        + " ORDER BY m.created_at DESC, m.id DESC LIMIT {}",
        *args,
        limit,
    )


async def chain_setting(name: str) -> object:
    """The stored JSON of one chain setting (None when never saved)."""
    rows = await fetch("SELECT value FROM chain_setting WHERE name = {}", name)
    return rows[0]["value"] if rows else None


async def save_chain_setting(name: str, value: str, now: datetime, staff_id: int | None) -> None:
    """Store one chain setting."""
    await fetch(
        "INSERT INTO chain_setting (name, value, updated_at, updated_by) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        name,
        value,
        now,
        staff_id,
    )
