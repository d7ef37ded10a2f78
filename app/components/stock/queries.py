"""The SQL of stock's tables (stock_batch, stock_move, returned_pack): the one module that writes it.

Joins with store, product and staff are for codes and names shown on lists; `store_by_code`, `active_stores`, the
stock list's text filter and the demo seed read store and product rows themselves. The sale's allocation keeps its
statements exactly as benchmarked: one per step, whatever the number of lines.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.db import advisory_lock, fetch, for_update, lock_row, marks, typed_param

# Advisory-lock class of a store's sales and returns (two-key form: apart from the migration lock's key space).
STORE_LOCK_CLASS = 727275

_MOVE_COLUMNS = "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"

# ---------------------------------------------------------------- stores (read for codes and pickers)


async def store_by_code(code: str) -> dict | None:
    """A store's id, code and name by its code."""
    rows = await fetch("SELECT id, code, name FROM store WHERE code = {}", code)
    return rows[0] if rows else None


async def active_stores() -> list[dict]:
    """Active stores (id, code, name) by code."""
    return await fetch("SELECT id, code, name FROM store WHERE active = {} ORDER BY code", True)


# ---------------------------------------------------------------- batches

BATCH_SELECT = (
    "SELECT b.id, b.store AS store_id, st.code AS store_code, b.product AS product_id, p.sku, p.name_zh, p.name_en,"
    " b.batch_no, b.expiry, b.status, b.on_hand, b.received_at"
    " FROM stock_batch b JOIN store st ON st.id = b.store JOIN product p ON p.id = b.product"
)


async def batch_row(batch_id: int) -> dict | None:
    """One batch with its store code and product names (`BATCH_SELECT`)."""
    rows = await fetch(BATCH_SELECT + " WHERE b.id = {}", batch_id)
    return rows[0] if rows else None


async def product_batch_rows(store_id: int, product_id: int) -> list[dict]:
    """Every batch of one product in one store, first expiry first."""
    return await fetch(
        BATCH_SELECT + " WHERE b.store = {} AND b.product = {} ORDER BY b.expiry, b.id", store_id, product_id
    )


async def expiring_rows(horizon: date, recalled: str, store_id: int | None) -> list[dict]:
    """Batches with stock expiring by `horizon`, not recalled, in one store or all; at most 500."""
    where = " WHERE b.on_hand > 0 AND b.expiry <= {} AND b.status <> {}"
    order = " ORDER BY b.expiry, st.code, p.sku LIMIT 500"
    if store_id is None:
        return await fetch(BATCH_SELECT + where + order, horizon, recalled)
    return await fetch(BATCH_SELECT + where + " AND b.store = {}" + order, horizon, recalled, store_id)


async def set_status(batch_id: int, status: str) -> None:
    await fetch("UPDATE stock_batch SET status = {} WHERE id = {}", status, batch_id)


async def add_on_hand(batch_id: int, qty: int) -> None:
    """Move a batch's cached on_hand by `qty` (always with the move that explains it)."""
    await fetch("UPDATE stock_batch SET on_hand = on_hand + {} WHERE id = {}", qty, batch_id)


async def lock_batch(batch_id: int) -> None:
    """Lock one batch row until the transaction ends (a sale or a second write-off waits, then sees what is left)."""
    await lock_row("stock_batch", batch_id)


async def insert_batch(store_id: int, product_id: int, batch_no: str, expiry: date, status: str, at: datetime) -> None:
    """A new, empty batch; nothing when the store already has this batch of the product."""
    await fetch(
        "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
        " VALUES ({}, {}, {}, {}, {}, 0, {}) ON CONFLICT (store, product, batch_no) DO NOTHING",
        store_id,
        product_id,
        batch_no,
        expiry,
        status,
        at,
    )


async def batch_by_number(store_id: int, product_id: int, batch_no: str) -> dict:
    """id, expiry and status of a store's batch of a product, locked until the transaction ends."""
    rows = await fetch(
        "SELECT id, expiry, status FROM stock_batch WHERE store = {} AND product = {} AND batch_no = {}" + for_update(),
        store_id,
        product_id,
        batch_no,
    )
    return rows[0]


# ---------------------------------------------------------------- the move ledger


async def move_by_key(key: str) -> dict | None:
    """batch, store, product and qty of the move with this key."""
    rows = await fetch("SELECT batch, store, product, qty FROM stock_move WHERE key = {}", key)
    return rows[0] if rows else None


async def move_exists(key: str) -> bool:
    return bool(await fetch("SELECT id FROM stock_move WHERE key = {}", key))


async def insert_move(
    batch_id: int | None,
    store_id: int,
    product_id: int,
    qty: int,
    kind: str,
    ref: str,
    key: str,
    staff_id: int | None,
    at: datetime,
) -> None:
    """Append one move; a key seen before is an error (the caller checked it inside its transaction)."""
    await fetch(
        _MOVE_COLUMNS + " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        batch_id,
        store_id,
        product_id,
        qty,
        kind,
        ref,
        key,
        staff_id,
        at,
    )


async def insert_move_once(
    batch_id: int | None,
    store_id: int,
    product_id: int,
    qty: int,
    kind: str,
    ref: str,
    key: str,
    staff_id: int | None,
    at: datetime,
) -> bool:
    """Append one move unless its key is there already; whether it was appended."""
    rows = await fetch(
        _MOVE_COLUMNS + " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        batch_id,
        store_id,
        product_id,
        qty,
        kind,
        ref,
        key,
        staff_id,
        at,
    )
    return bool(rows)


# ---------------------------------------------------------------- the sale's allocation (FEFO)


async def lock_store(store_id: int) -> None:
    """Serialise one store's sales and returns until the transaction ends (PostgreSQL; SQLite's IMMEDIATE
    transaction already serialises writers)."""
    await advisory_lock(STORE_LOCK_CLASS, store_id)


async def lock_product_batches(store_id: int, product_id: int) -> list[dict]:
    """Every batch of one product in a store, first expiry first, locked."""
    return await fetch(
        "SELECT id, batch_no, expiry, status, on_hand FROM stock_batch WHERE store = {} AND product = {}"
        " ORDER BY expiry, id" + for_update(),
        store_id,
        product_id,
    )


async def lock_products_batches(store_id: int, product_ids: list[int]) -> list[dict]:
    """Every batch of the products in a store, by product then first expiry, locked."""
    return await fetch(
        "SELECT id, product, batch_no, expiry, status, on_hand FROM stock_batch WHERE store = {}"
        " AND product IN (" + marks(product_ids) + ") ORDER BY product, expiry, id" + for_update(),
        store_id,
        *product_ids,
    )


async def moves_by_keys(keys: list[str], with_key: bool = False) -> list[dict]:
    """The moves with these keys (batch, qty, the batch's number and expiry; `key` too when asked), batch order."""
    select = (
        "SELECT m.key, m.batch, m.qty, b.batch_no, b.expiry"
        if with_key
        else "SELECT m.batch, m.qty, b.batch_no, b.expiry"
    )
    return await fetch(
        select + " FROM stock_move m LEFT JOIN stock_batch b ON b.id = m.batch"
        " WHERE m.key IN (" + marks(keys) + ") ORDER BY b.expiry IS NULL, b.expiry, m.batch",
        *keys,
    )


async def take_from_batch(batch_id: int, take: int) -> bool:
    """Take units from one batch, never below zero; whether it had them."""
    updated = await fetch(
        "UPDATE stock_batch SET on_hand = on_hand - {} WHERE id = {} AND on_hand >= {} RETURNING on_hand",
        take,
        batch_id,
        take,
    )
    return bool(updated)


async def take_from_batches(takes: dict[int, int]) -> set[int]:
    """Take units from several batches in one statement, never below zero; the ids of those that had them."""
    values = ", ".join(["(CAST({} AS INTEGER), CAST({} AS INTEGER))"] * len(takes))
    updated = await fetch(
        "WITH t (id, take) AS (VALUES " + values + ") UPDATE stock_batch"
        " SET on_hand = on_hand - (SELECT t.take FROM t WHERE t.id = stock_batch.id)"
        " WHERE id IN (SELECT t.id FROM t) AND on_hand >= (SELECT t.take FROM t WHERE t.id = stock_batch.id)"
        " RETURNING id",
        *[x for pair in takes.items() for x in pair],
    )
    return {r["id"] for r in updated}


async def insert_sale_moves(moves: list[tuple[Any, ...]]) -> int:
    """Append sale moves, each (batch, store, product, qty, ref, key, staff, at), in one statement, skipping keys
    seen before; how many were appended."""
    inserted = await fetch(
        _MOVE_COLUMNS
        + " VALUES "
        + ", ".join(["({}, {}, {}, {}, 'sale', {}, {}, {}, {})"] * len(moves))
        + " ON CONFLICT (key) DO NOTHING RETURNING id",
        *[x for move in moves for x in move],
    )
    return len(inserted)


async def sellable_rows(store_id: int, status: str, today: date, product_ids: list[int]) -> list[dict]:
    """(product, qty) of units in batches of `status` not expired by `today`, per product."""
    return await fetch(
        "SELECT product, SUM(on_hand) AS qty FROM stock_batch WHERE store = {} AND status = {} AND expiry >= {}"
        " AND on_hand > 0 AND product IN (" + marks(product_ids) + ") GROUP BY product",
        store_id,
        status,
        today,
        *product_ids,
    )


# ---------------------------------------------------------------- the store's stock list

_STOCK_LIST = (
    "SELECT p.id, p.sku, p.name_zh, p.name_en,"
    " SUM(CASE WHEN b.status = {} AND b.expiry >= {} THEN b.on_hand ELSE 0 END) AS sellable,"
    " SUM(CASE WHEN b.status = {} AND b.expiry >= {} THEN 0 ELSE b.on_hand END) AS blocked,"
    " MIN(CASE WHEN b.status = {} AND b.expiry >= {} AND b.on_hand > 0 THEN b.expiry END) AS nearest_expiry,"
    " COUNT(*) AS batches"
    " FROM stock_batch b JOIN product p ON p.id = b.product"
    " WHERE b.store = {}"
)
# LOWER on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's is not.
_STOCK_FILTER = " AND (LOWER(p.sku) LIKE {} OR p.name_zh LIKE {} OR LOWER(p.name_en) LIKE {})"
_STOCK_PAGE = " GROUP BY p.id, p.sku, p.name_zh, p.name_en ORDER BY p.sku LIMIT {} OFFSET {}"


async def stock_list_rows(
    store_id: int, available: str, today: date, like: str | None, limit: int, offset: int
) -> list[dict]:
    """Per product in a store: sellable, blocked, nearest sellable expiry and batches; `like` filters SKU or name."""
    head = [available, today, available, today, available, today, store_id]
    if like is None:
        return await fetch(_STOCK_LIST + _STOCK_PAGE, *head, limit, offset)
    return await fetch(
        _STOCK_LIST + _STOCK_FILTER + _STOCK_PAGE, *head, like.lower(), like, like.lower(), limit, offset
    )


# ---------------------------------------------------------------- returned packs

PACK_SELECT = (
    "SELECT rp.id, rp.store AS store_id, st.code AS store_code, rp.product AS product_id, p.sku, p.name_zh,"
    " p.name_en, rp.batch AS batch_id, b.batch_no, b.expiry, b.status AS batch_status, rp.sale_no, rp.return_no,"
    " rp.line_no, rp.qty, rp.restricted, rp.status, sf.display_name AS staff_name, rp.created_at,"
    " db.display_name AS decided_by_name, rp.decided_at, rp.decision_reason"
    " FROM returned_pack rp JOIN store st ON st.id = rp.store JOIN product p ON p.id = rp.product"
    " LEFT JOIN stock_batch b ON b.id = rp.batch LEFT JOIN staff sf ON sf.id = rp.staff"
    " LEFT JOIN staff db ON db.id = rp.decided_by"
)
_HELD_PACKS = PACK_SELECT + " WHERE rp.store = {} AND rp.status = {} ORDER BY rp.created_at, rp.id LIMIT {}"
_DECIDED_PACKS = (
    PACK_SELECT + " WHERE rp.store = {} AND rp.status <> {} ORDER BY rp.decided_at DESC, rp.id DESC LIMIT {}"
)


async def pack_rows(store_id: int, held_status: str, held: bool, limit: int) -> list[dict]:
    """A store's packs still held (oldest first) or those decided (newest first)."""
    return await fetch(_HELD_PACKS if held else _DECIDED_PACKS, store_id, held_status, limit)


async def pack_row(pack_id: int) -> dict | None:
    rows = await fetch(PACK_SELECT + " WHERE rp.id = {}", pack_id)
    return rows[0] if rows else None


async def decide_pack(pack_id: int, status: str, staff_id: int, at: datetime, reason: str, held: str) -> bool:
    """Mark a held pack decided; False when it was no longer held (of two deciders at once, one wins)."""
    updated = await fetch(
        "UPDATE returned_pack SET status = {}, decided_by = {}, decided_at = {}, decision_reason = {}"
        " WHERE id = {} AND status = {} RETURNING id",
        status,
        staff_id,
        at,
        reason,
        pack_id,
        held,
    )
    return bool(updated)


async def line_moves(sale_no: str) -> list[dict]:
    """The sale and return moves whose `ref` is this sale number, batch order."""
    return await fetch(
        "SELECT m.id, m.batch, m.product, m.qty, m.kind, m.key, b.batch_no, b.expiry"
        " FROM stock_move m LEFT JOIN stock_batch b ON b.id = m.batch"
        " WHERE m.ref = {} AND m.kind IN ('sale', 'return') ORDER BY b.expiry, m.batch, m.id",
        sale_no,
    )


async def pack_ids_like(key_pattern: str) -> list[int]:
    rows = await fetch("SELECT id FROM returned_pack WHERE key LIKE {} ORDER BY id", key_pattern)
    return [r["id"] for r in rows]


async def insert_return_moves(
    batch_id: int | None,
    store_id: int,
    product_id: int,
    qty: int,
    sale_no: str,
    suffix: str,
    staff_id: int,
    at: datetime,
) -> None:
    """A "return" move in and a "quarantine" move straight out again (the batch's on_hand is unchanged)."""
    await fetch(
        _MOVE_COLUMNS
        + " VALUES ({}, {}, {}, {}, 'return', {}, {}, {}, {}), ({}, {}, {}, {}, 'quarantine', {}, {}, {}, {})"
        " ON CONFLICT (key) DO NOTHING",
        *(batch_id, store_id, product_id, qty, sale_no, "return:" + suffix, staff_id, at),
        *(batch_id, store_id, product_id, -qty, sale_no, "quarantine:" + suffix, staff_id, at),
    )


async def insert_pack(
    key: str,
    store_id: int,
    product_id: int,
    batch_id: int | None,
    sale_no: str,
    return_no: str,
    line_no: int,
    qty: int,
    restricted: bool,
    status: str,
    staff_id: int,
    at: datetime,
) -> list[int]:
    """A returned pack held in quarantine; its id, or none when the key was there already."""
    rows = await fetch(
        "INSERT INTO returned_pack (key, store, product, batch, sale_no, return_no, line_no, qty, restricted,"
        " status, staff, created_at, decided_by, decided_at, decision_reason)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, '')"
        " ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        store_id,
        product_id,
        batch_id,
        sale_no,
        return_no,
        line_no,
        qty,
        restricted,
        status,
        staff_id,
        at,
    )
    return [r["id"] for r in rows]


# ---------------------------------------------------------------- demo data


async def count_batches() -> int:
    return int((await fetch("SELECT COUNT(*) AS n FROM stock_batch"))[0]["n"])


# The demo batches of every active product in every active store, deterministic batch numbers D<id>A/B/C (a
# second run conflicts and inserts nothing): A with one of four early expiries, B late, C short (every third).
_SEED_BATCHES = {
    "A": ("'A'", "CASE p.id % 4 WHEN 0 THEN {d} WHEN 1 THEN {d} WHEN 2 THEN {d} ELSE {d} END", "10 + p.id % 20", ""),
    "B": ("'B'", "{d}", "30 + p.id % 25", ""),
    "C": ("'C'", "{d}", "3 + p.id % 5", " AND p.id % 3 = 0"),
}


def _seed_batch_sql(suffix: str) -> str:
    literal, expiry, qty, only = _SEED_BATCHES[suffix]
    return (
        "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
        " SELECT s.id, p.id, 'D' || p.id || "
        + literal
        + ", "
        + expiry.replace("{d}", typed_param("DATE"))
        + ", 'available', "
        + qty
        + ", "
        + typed_param("TIMESTAMPTZ")
        + " FROM store s CROSS JOIN product p WHERE s.active = {} AND p.active = {}"
        + only
        + " ON CONFLICT (store, product, batch_no) DO NOTHING"
    )


async def seed_batches(suffix: str, dates: list[date], at: datetime) -> None:
    """Demo batch `suffix` (A, B or C) of every active product in every active store, expiring on `dates`."""
    await fetch(_seed_batch_sql(suffix), *dates, at, True, True)


async def first_store_and_products() -> tuple[int | None, list[int]]:
    """The first active store by code and the first two active products by SKU (for the demo's odd batches)."""
    store = await fetch("SELECT id FROM store WHERE active = {} ORDER BY code LIMIT 1", True)
    products = await fetch("SELECT id FROM product WHERE active = {} ORDER BY sku LIMIT 2", True)
    return (store[0]["id"] if store else None), [r["id"] for r in products]


async def insert_demo_batch(
    store_id: int, product_id: int, batch_no: str, expiry: date, status: str, at: datetime
) -> None:
    await fetch(
        "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
        " VALUES ({}, {}, {}, {}, {}, 6, {}) ON CONFLICT (store, product, batch_no) DO NOTHING",
        store_id,
        product_id,
        batch_no,
        expiry,
        status,
        at,
    )


async def seed_moves(at: datetime) -> None:
    """The receipt moves that explain the demo batches' quantities (one per batch still without its seed move)."""
    await fetch(
        _MOVE_COLUMNS
        + " SELECT b.id, b.store, b.product, b.on_hand, 'receipt', 'demo', 'seed:' || b.id, NULL, "
        + typed_param("TIMESTAMPTZ")
        + " FROM stock_batch b WHERE (b.batch_no LIKE 'D%' OR b.batch_no LIKE 'DEMO-%')"
        " AND NOT EXISTS (SELECT 1 FROM stock_move m WHERE m.batch = b.id)"
        " ON CONFLICT (key) DO NOTHING",
        at,
    )
