"""The SQL of `staff`, `api_token` and `pin_lockout` as sign-in uses them: the only module of auth that writes SQL.

A staff row is read with its store's code, name and phone, which the signed-in user carries (display only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db import fetch, for_update

_STAFF_SQL = (
    "SELECT s.id, s.username, s.display_name, s.role, s.store AS store_id, s.password_hash, s.active,"
    " st.code AS store_code, st.name AS store_name, st.phone AS store_phone"
    " FROM staff s LEFT JOIN store st ON st.id = s.store"
)


async def staff_by_username(username: str) -> dict[str, Any] | None:
    """A staff row (active or not) by username, with its password hash and store."""
    rows = await fetch(_STAFF_SQL + " WHERE s.username = {}", username)
    return rows[0] if rows else None


async def staff_by_token(token_hash: str) -> dict[str, Any] | None:
    """The staff row behind an API token that is not revoked (the account may be inactive)."""
    rows = await fetch(
        _STAFF_SQL + " JOIN api_token t ON t.staff = s.id WHERE t.token_hash = {} AND t.revoked = {}",
        token_hash,
        False,
    )
    return rows[0] if rows else None


async def insert_api_token(staff_id: int, token_hash: str, label: str, at: datetime) -> None:
    """A new API token of a staff member (only its hash is stored)."""
    await fetch(
        "INSERT INTO api_token (staff, token_hash, label, created_at, revoked) VALUES ({}, {}, {}, {}, {})",
        staff_id,
        token_hash,
        label,
        at,
        False,
    )


async def lock_pin_state(staff_id: int, at: datetime) -> dict[str, Any]:
    """An approver's run of failures and lock, created if missing and row-locked until the transaction ends."""
    await fetch(
        "INSERT INTO pin_lockout (staff, failures, locked_until, updated_at) VALUES ({}, 0, NULL, {})"
        " ON CONFLICT (staff) DO NOTHING",
        staff_id,
        at,
    )
    return (await fetch("SELECT failures, locked_until FROM pin_lockout WHERE staff = {}" + for_update(), staff_id))[0]


async def set_pin_state(staff_id: int, failures: int, locked_until: datetime | None, at: datetime) -> None:
    """Set an approver's run of failures and lock."""
    await fetch(
        "UPDATE pin_lockout SET failures = {}, locked_until = {}, updated_at = {} WHERE staff = {}",
        failures,
        locked_until,
        at,
        staff_id,
    )


async def reset_pin_failures(staff_id: int, at: datetime) -> None:
    """Start the run of failures again, unless the PIN is locked now."""
    await fetch(
        "UPDATE pin_lockout SET failures = 0, updated_at = {} WHERE staff = {}"
        " AND (locked_until IS NULL OR locked_until <= {})",
        at,
        staff_id,
        at,
    )


async def pin_state(staff_id: int) -> dict[str, Any] | None:
    """An approver's run of failures and lock as stored; None when there never was a try."""
    rows = await fetch("SELECT failures, locked_until FROM pin_lockout WHERE staff = {}", staff_id)
    return rows[0] if rows else None
