"""Synthetic sales history for benches and demos: past sales, lines, tenders and medication rows, set-based."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components.core.roles import SALE_ROLES
from app.components.members import next_serials
from app.db import days_after, epoch_timestamp, fetch, fold_log, local_date, marks, transaction
from app.settings import get_settings

# Lines per transaction: big enough that per-statement overhead vanishes, small enough to keep the WAL modest.
CHUNK_LINES = 60_000
LINES_PER_SALE = 3
DAYS = 365
# A sale number's serial, zero-padded to 8 digits (the same expression on both engines).
_SERIAL_8 = "substr('00000000' || x.serial, length('00000000' || x.serial) - 7)"
# Days one pack lasts at the product's daily use, at least one.
_DAYS_OF_SUPPLY = (
    "(CASE WHEN ROUND(p.pack_units * 1.0 / p.units_per_day) < 1 THEN 1"
    " ELSE CAST(ROUND(p.pack_units * 1.0 / p.units_per_day) AS INTEGER) END)"
)


async def _fill_pick_tables() -> tuple[int, int, int]:
    """Scratch tables numbering members, products and selling stores 0..n-1 so picks are primary-key joins."""
    await _drop_pick_tables()
    await fetch("CREATE TABLE seed_pick_member (n INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
    await fetch("CREATE TABLE seed_pick_product (n INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
    await fetch(
        "CREATE TABLE seed_pick_store (n INTEGER PRIMARY KEY, store INTEGER NOT NULL, staff INTEGER NOT NULL,"
        " code VARCHAR(16) NOT NULL)"
    )
    await fetch(
        "INSERT INTO seed_pick_member (n, id) SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM member"
        " WHERE merged_into IS NULL"
    )
    await fetch(
        "INSERT INTO seed_pick_product (n, id) SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM product"
        " WHERE active = {}",
        True,
    )
    roles = sorted(SALE_ROLES)
    await fetch(
        "INSERT INTO seed_pick_store (n, store, staff, code)"
        " SELECT ROW_NUMBER() OVER (ORDER BY st.id) - 1, st.id, MIN(s.id), st.code FROM store st"
        " JOIN staff s ON s.store = st.id AND s.role IN (" + marks(roles) + ") GROUP BY st.id, st.code",
        *roles,
    )
    counts = await fetch(
        "SELECT (SELECT COUNT(*) FROM seed_pick_member) AS m, (SELECT COUNT(*) FROM seed_pick_product) AS p,"
        " (SELECT COUNT(*) FROM seed_pick_store) AS s"
    )
    return int(counts[0]["m"]), int(counts[0]["p"]), int(counts[0]["s"])


async def _drop_pick_tables() -> None:
    await fetch("DROP TABLE IF EXISTS seed_pick_member")
    await fetch("DROP TABLE IF EXISTS seed_pick_product")
    await fetch("DROP TABLE IF EXISTS seed_pick_store")


async def seed_sales_history(lines: int, seed: int = 1) -> int:
    """Insert about `lines` sale lines (3 per sale) of past sales over the last 12 months; returns lines inserted.

    Sales go to existing members (spread evenly, pseudo-randomly by `seed`) in stores that have selling staff, with
    active catalog products, one cash tender each, and a medication-history row per line (days of supply from the
    product). Everything is generated in SQL with INSERT … SELECT over a recursive number series, a chunk per
    transaction, so 1,000,000 lines take minutes on SQLite. History only: no stock moves, points, coupons,
    outbox rows or timeline events are written (the stock and points ledgers stay as they were). Sale numbers
    come from the 'sale' sequence, so later real sales continue after them.
    """
    if lines <= 0:
        return 0
    members, products, stores = await _fill_pick_tables()
    try:
        if not (members and products and stores):
            return 0
        now_epoch = int(datetime.now(UTC).timestamp())
        span = DAYS * 86400
        # The expressions that differ between the engines; every number is a parameter.
        created = epoch_timestamp("{} - ((x.serial * 104729 + {}) % {})")
        started = local_date("s.created_at", get_settings().timezone)
        until = days_after(started, _DAYS_OF_SUPPLY + " * sl.qty - 1")
        insert_sales = (
            "WITH RECURSIVE x(serial) AS (SELECT CAST({} AS BIGINT) UNION ALL SELECT serial + 1 FROM x"
            " WHERE serial < {})"
            " INSERT INTO sale (sale_no, idempotency_key, store, staff, member, status, subtotal,"
            " line_discount, coupon_discount, total, paid, change_given, points_earned, points_redeemed,"
            " override_reason, rx_number, rx_hospital, rx_image, created_at)"
            " SELECT 'S' || ps.code || " + _SERIAL_8 + ", CAST({} AS TEXT) || x.serial, ps.store, ps.staff, pm.id,"
            " 'completed', 0, 0, 0, 0, 0, 0, 0, 0, '', '', '', '', " + created + " FROM x"
            " JOIN seed_pick_member pm ON pm.n = (x.serial * 7919 + {} * 31) % {}"
            " JOIN seed_pick_store ps ON ps.n = (x.serial * 13 + {}) % {}"
        )
        insert_medication = (
            "INSERT INTO medication (member, sale_line, product, atc, qty, started_on, supply_until, store)"
            " SELECT s.member, sl.id, sl.product, p.atc, sl.qty, " + started + ","
            " CASE WHEN p.units_per_day > 0 THEN " + until + " ELSE NULL END, s.store"
            " FROM sale_line sl JOIN sale s ON s.id = sl.sale JOIN product p ON p.id = sl.product"
            " WHERE sl.sale > {}"
        )
        key_prefix = f"hist:{seed}:"
        done = 0
        while done < lines:
            chunk = min(CHUNK_LINES, lines - done)
            sale_count = -(-chunk // LINES_PER_SALE)
            last_lines = chunk - LINES_PER_SALE * (sale_count - 1)
            async with transaction():
                first = await next_serials("sale", sale_count)
                last = first + sale_count - 1
                before = (await fetch("SELECT COALESCE(MAX(id), 0) AS id FROM sale"))[0]["id"]
                await fetch(
                    insert_sales,
                    first,
                    last,
                    key_prefix,
                    now_epoch,
                    seed,
                    span,
                    seed,
                    members,
                    seed,
                    stores,
                )
                await fetch(
                    "INSERT INTO sale_line (sale, line_no, product, qty, unit_price, line_discount, coupon_share,"
                    " total, returned_qty, alerts, codes)"
                    " SELECT s.id, j.n, p.id, 1 + (s.id + j.n) % 2, p.price, 0, 0, p.price * (1 + (s.id + j.n) % 2),"
                    " 0, '[]', '[]'"
                    " FROM sale s CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) j"
                    " JOIN seed_pick_product pp ON pp.n = (s.id * 31 + j.n * 7877 + {}) % {}"
                    " JOIN product p ON p.id = pp.id"
                    " WHERE s.id > {} AND (j.n <= {} OR s.idempotency_key <> {})",
                    seed,
                    products,
                    before,
                    last_lines,
                    f"{key_prefix}{last}",
                )
                await fetch(
                    "UPDATE sale SET subtotal = t.amount, total = t.amount, paid = t.amount"
                    " FROM (SELECT sale, SUM(total) AS amount FROM sale_line WHERE sale > {} GROUP BY sale) t"
                    " WHERE sale.id = t.sale",
                    before,
                )
                await fetch(
                    "INSERT INTO sale_tender (sale, kind, amount, reference) SELECT id, 'cash', total, '' FROM sale"
                    " WHERE id > {}",
                    before,
                )
                await fetch(insert_medication, before)
            done += chunk
        await fold_log()
        return done
    finally:
        await _drop_pick_tables()
