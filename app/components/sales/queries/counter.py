"""SQL of the counter's set-up: registered tablets (`counter_device`) and the chain's counter settings
(`chain_setting`)."""

from __future__ import annotations

from datetime import datetime

from app.db import fetch

_DEVICE_SQL = (
    "SELECT d.id, d.store, d.name, d.created_at, d.revoked_at, st.name AS store_name,"
    " cb.display_name AS created_by_name, rb.display_name AS revoked_by_name"
    " FROM counter_device d JOIN store st ON st.id = d.store JOIN staff cb ON cb.id = d.created_by"
    " LEFT JOIN staff rb ON rb.id = d.revoked_by"
)


async def insert_device(store_id: int, name: str, token_hash: str, created_by: int, at: datetime) -> int:
    """A new active tablet of the store: its id."""
    rows = await fetch(
        "INSERT INTO counter_device (store, name, token_hash, created_by, created_at, revoked_at, revoked_by)"
        " VALUES ({}, {}, {}, {}, {}, NULL, NULL) RETURNING id",
        store_id,
        name,
        token_hash,
        created_by,
        at,
    )
    return rows[0]["id"]


async def active_device_by_token(token_hash: str) -> dict | None:
    """The active tablet whose token hashes to this, with store and staff names."""
    rows = await fetch(_DEVICE_SQL + " WHERE d.token_hash = {} AND d.revoked_at IS NULL", token_hash)
    return rows[0] if rows else None


async def devices_of_store(store_id: int) -> list[dict]:
    """The store's tablets, active first, newest first."""
    return await fetch(
        _DEVICE_SQL + " WHERE d.store = {} ORDER BY (d.revoked_at IS NULL) DESC, d.created_at DESC, d.id DESC",
        store_id,
    )


async def revoke_device(device_id: int, store_id: int, by: int, at: datetime) -> bool:
    """Stop trusting an active tablet of the store; False when it was not active."""
    rows = await fetch(
        "UPDATE counter_device SET revoked_at = {}, revoked_by = {}"
        " WHERE id = {} AND store = {} AND revoked_at IS NULL RETURNING id",
        at,
        by,
        device_id,
        store_id,
    )
    return bool(rows)


async def device_of_store(device_id: int, store_id: int | None) -> dict | None:
    rows = await fetch(_DEVICE_SQL + " WHERE d.id = {} AND d.store = {}", device_id, store_id)
    return rows[0] if rows else None


async def chain_setting(name: str) -> str | None:
    """A chain setting's stored value (JSON text), or None when never saved."""
    rows = await fetch("SELECT value FROM chain_setting WHERE name = {}", name)
    return rows[0]["value"] if rows else None


async def save_chain_setting(name: str, value: str, at: datetime, by: int) -> None:
    await fetch(
        "INSERT INTO chain_setting (name, value, updated_at, updated_by) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        name,
        value,
        at,
        by,
    )
