"""Synthetic sales history for benches and demos: past sales, lines, tenders and medication rows, set-based."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components.core.roles import SALE_ROLES
from app.components.members import next_serials
from app.db import fetch, is_sqlite, transaction
from app.settings import get_settings

# Lines per transaction: big enough that per-statement overhead vanishes, small enough to keep the WAL modest.
CHUNK_LINES = 60_000
LINES_PER_SALE = 3
DAYS = 365


def _zone_offset_minutes() -> int:
    from zoneinfo import ZoneInfo

    offset = datetime.now(ZoneInfo(get_settings().timezone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


async def _fill_pick_tables() -> tuple[int, int, int]:
    """Scratch tables numbering members, products and selling stores 0..n-1 so picks are primary-key joins."""
    for name in ("seed_pick_member", "seed_pick_product", "seed_pick_store"):
        await fetch(f"DROP TABLE IF EXISTS {name}")
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
        f" JOIN staff s ON s.store = st.id AND s.role IN ({', '.join('{}' for _ in roles)})"
        " GROUP BY st.id, st.code",
        *roles,
    )
    counts = await fetch(
        "SELECT (SELECT COUNT(*) FROM seed_pick_member) AS m, (SELECT COUNT(*) FROM seed_pick_product) AS p,"
        " (SELECT COUNT(*) FROM seed_pick_store) AS s"
    )
    return int(counts[0]["m"]), int(counts[0]["p"]), int(counts[0]["s"])


async def _drop_pick_tables() -> None:
    for name in ("seed_pick_member", "seed_pick_product", "seed_pick_store"):
        await fetch(f"DROP TABLE IF EXISTS {name}")


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
        offset = _zone_offset_minutes()
        sqlite = is_sqlite()
        if sqlite:
            moment = f"{now_epoch} - ((x.serial * 104729 + {seed}) % {span})"
            created = f"strftime('%Y-%m-%d %H:%M:%S+00:00', {moment}, 'unixepoch')"
            sale_no = "'S' || ps.code || substr('00000000' || x.serial, -8)"
            started = f"date(s.created_at, '{offset:+d} minutes')"
            days = "MAX(1, CAST(ROUND(p.pack_units * 1.0 / p.units_per_day) AS INTEGER))"
            until = f"date(s.created_at, '{offset:+d} minutes', '+' || ({days} * sl.qty - 1) || ' days')"
        else:
            created = f"to_timestamp({now_epoch} - ((x.serial * 104729 + {seed}) % {span}))"
            sale_no = "'S' || ps.code || lpad(x.serial::text, 8, '0')"
            started = f"((s.created_at AT TIME ZONE '{get_settings().timezone}')::date)"
            days = "GREATEST(1, ROUND(p.pack_units / p.units_per_day)::int)"
            until = f"({started} + ({days} * sl.qty - 1))"
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
                    f"WITH RECURSIVE x(serial) AS (SELECT CAST({first} AS BIGINT) UNION ALL SELECT serial + 1 FROM x"
                    f" WHERE serial < {last})"
                    " INSERT INTO sale (sale_no, idempotency_key, store, staff, member, status, subtotal,"
                    " line_discount, coupon_discount, total, paid, change_given, points_earned, points_redeemed,"
                    " override_reason, rx_number, rx_hospital, rx_image, created_at)"
                    f" SELECT {sale_no}, 'hist:{seed}:' || x.serial, ps.store, ps.staff, pm.id, 'completed',"
                    f" 0, 0, 0, 0, 0, 0, 0, 0, '', '', '', '', {created}"
                    " FROM x"
                    f" JOIN seed_pick_member pm ON pm.n = (x.serial * 7919 + {seed} * 31) % {members}"
                    f" JOIN seed_pick_store ps ON ps.n = (x.serial * 13 + {seed}) % {stores}"
                )
                await fetch(
                    "INSERT INTO sale_line (sale, line_no, product, qty, unit_price, line_discount, coupon_share,"
                    " total, returned_qty, alerts, codes)"
                    " SELECT s.id, j.n, p.id, 1 + (s.id + j.n) % 2, p.price, 0, 0, p.price * (1 + (s.id + j.n) % 2),"
                    " 0, '[]', '[]'"
                    " FROM sale s CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) j"
                    f" JOIN seed_pick_product pp ON pp.n = (s.id * 31 + j.n * 7877 + {seed}) % {products}"
                    " JOIN product p ON p.id = pp.id"
                    f" WHERE s.id > {before} AND (j.n <= {last_lines} OR s.idempotency_key <> 'hist:{seed}:{last}')"
                )
                await fetch(
                    "UPDATE sale SET subtotal = t.amount, total = t.amount, paid = t.amount"
                    f" FROM (SELECT sale, SUM(total) AS amount FROM sale_line WHERE sale > {before} GROUP BY sale) t"
                    " WHERE sale.id = t.sale"
                )
                await fetch(
                    "INSERT INTO sale_tender (sale, kind, amount, reference)"
                    f" SELECT id, 'cash', total, '' FROM sale WHERE id > {before}"
                )
                await fetch(
                    "INSERT INTO medication (member, sale_line, product, atc, qty, started_on, supply_until, store)"
                    f" SELECT s.member, sl.id, sl.product, p.atc, sl.qty, {started},"
                    f" CASE WHEN p.units_per_day > 0 THEN {until} ELSE NULL END, s.store"
                    " FROM sale_line sl JOIN sale s ON s.id = sl.sale JOIN product p ON p.id = sl.product"
                    f" WHERE sl.sale > {before}"
                )
            done += chunk
        if sqlite:
            # Fold the history into the database file now, not during the first measured sales.
            await fetch("PRAGMA wal_checkpoint(TRUNCATE)")
        return done
    finally:
        await _drop_pick_tables()
