"""The SQL of loyalty's tables (points_entry, member_loyalty, loyalty_setting): the one module that writes it.

The rolling spend that decides a tier reads the sales domain's `sale` and `sale_return` (in the locking upsert of
`lock_member` and in the yearly review), set-based; the wallet's one round trip is kept as benchmarked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.db import fetch, marks

_ENTRY_INSERT = "INSERT INTO points_entry (member, kind, points, ref, key, expires_on, store, staff, at)"

# ---------------------------------------------------------------- settings


async def setting(name: str) -> Any:
    """A stored setting's value, None when not configured."""
    rows = await fetch("SELECT value FROM loyalty_setting WHERE name = {}", name)
    return rows[0]["value"] if rows else None


async def save_setting(name: str, value: str, at: datetime, staff_id: int) -> None:
    await fetch(
        "INSERT INTO loyalty_setting (name, value, updated_at, updated_by) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        name,
        value,
        at,
        staff_id,
    )


# ---------------------------------------------------------------- the member's loyalty row

_LOCK = (
    "INSERT INTO member_loyalty (member, tier, tier_since, reviewed_on, balance) VALUES ({}, 'regular', {}, {}, 0)"
    " ON CONFLICT (member) DO UPDATE SET member = excluded.member RETURNING tier, balance"
)
_SPEND = (
    ", (SELECT COALESCE(SUM(s.total), 0) FROM sale s WHERE s.member = {} AND s.created_at >= {})"
    " - (SELECT COALESCE(SUM(r.amount), 0) FROM sale_return r JOIN sale s ON s.id = r.sale"
    " WHERE s.member = {} AND r.created_at >= {}) AS spend"
)


async def lock_member(member_id: int, today: date, spend_since: datetime | None = None) -> dict:
    """The member's loyalty row (created if missing), locked until the transaction ends, in one statement: on
    PostgreSQL the upsert's DO UPDATE takes the row lock; SQLite's IMMEDIATE transaction serialises anyway.

    With `spend_since`, the row also carries `spend`: sales minus returns of the member since then, in fen."""
    if spend_since is None:
        rows = await fetch(_LOCK, member_id, today, today)
    else:
        rows = await fetch(_LOCK + _SPEND, member_id, today, today, member_id, spend_since, member_id, spend_since)
    return rows[0]


async def tier(member_id: int) -> str | None:
    rows = await fetch("SELECT tier FROM member_loyalty WHERE member = {}", member_id)
    return rows[0]["tier"] if rows else None


async def move_balance(member_id: int, points: int) -> None:
    await fetch("UPDATE member_loyalty SET balance = balance + {} WHERE member = {}", points, member_id)


async def move_balance_and_tier(member_id: int, points: int, tier_: str, on_date: date) -> None:
    """Move the cached balance and set the tier; tier_since moves only when the tier does (the CASE reads the
    row's old tier)."""
    await fetch(
        "UPDATE member_loyalty SET balance = balance + {}, tier_since = CASE WHEN tier = {} THEN tier_since"
        " ELSE {} END, tier = {} WHERE member = {}",
        points,
        tier_,
        on_date,
        tier_,
        member_id,
    )


async def refresh_balances(member_ids: list[int]) -> None:
    """Recompute the cached balance of these members from their ledgers."""
    await fetch(
        "UPDATE member_loyalty SET balance = (SELECT COALESCE(SUM(p.points), 0) FROM points_entry p"
        " WHERE p.member = member_loyalty.member) WHERE member IN (" + marks(member_ids) + ")",
        *member_ids,
    )


async def drifted_balances() -> list[dict]:
    """Members whose cached balance differs from the sum of their ledger."""
    return await fetch(
        "SELECT COALESCE(ml.member, l.member) AS member, COALESCE(ml.balance, 0) AS cached,"
        " COALESCE(l.total, 0) AS ledger"
        " FROM member_loyalty ml FULL OUTER JOIN"
        " (SELECT member, SUM(points) AS total FROM points_entry GROUP BY member) l ON l.member = ml.member"
        " WHERE COALESCE(ml.balance, 0) <> COALESCE(l.total, 0)"
    )


# ---------------------------------------------------------------- the ledger


async def insert_entry(
    member_id: int,
    kind: str,
    points: int,
    ref: str,
    key: str,
    expires_on: date | None,
    store_id: int | None,
    staff_id: int | None,
    at: datetime,
) -> bool:
    """Append one entry; False when its key was there already."""
    rows = await fetch(
        _ENTRY_INSERT + " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        member_id,
        kind,
        points,
        ref,
        key,
        expires_on,
        store_id,
        staff_id,
        at,
    )
    return bool(rows)


async def entry(key: str) -> dict | None:
    """points and expires_on of the entry with this key."""
    rows = await fetch("SELECT points, expires_on FROM points_entry WHERE key = {}", key)
    return rows[0] if rows else None


async def ledger_sum(member_id: int) -> int:
    rows = await fetch("SELECT COALESCE(SUM(points), 0) AS s FROM points_entry WHERE member = {}", member_id)
    return int(rows[0]["s"])


async def sale_sums(member_id: int, sale_no: str) -> dict:
    """What a sale's entries redeemed, restored, earned and reversed so far (each ≥ 0)."""
    rows = await fetch(
        "SELECT"
        " COALESCE(SUM(CASE WHEN kind = 'redeem' AND key = {} THEN -points ELSE 0 END), 0) AS redeemed,"
        " COALESCE(SUM(CASE WHEN kind = 'restore' THEN points ELSE 0 END), 0) AS restored,"
        " COALESCE(SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END), 0) AS earned,"
        " COALESCE(SUM(CASE WHEN kind = 'reverse' THEN -points ELSE 0 END), 0) AS reversed"
        " FROM points_entry WHERE member = {} AND ref = {} AND kind IN ('earn', 'redeem', 'restore', 'reverse')",
        f"redeem:{sale_no}",
        member_id,
        sale_no,
    )
    return rows[0]


async def lots(member_id: int) -> tuple[list[dict], int]:
    """(expires_on, points) per dated lot, and the sum of the undated outflows (redeem, expire, gift) as positive."""
    rows = await fetch(
        "SELECT expires_on, SUM(points) AS points FROM points_entry WHERE member = {} AND expires_on IS NOT NULL"
        " GROUP BY expires_on",
        member_id,
    )
    out = await fetch(
        "SELECT COALESCE(SUM(-points), 0) AS o FROM points_entry WHERE member = {} AND expires_on IS NULL", member_id
    )
    return rows, int(out[0]["o"])


async def entries_page(member_id: int, limit: int, offset: int) -> list[dict]:
    """The member's entries, newest first."""
    return await fetch(
        "SELECT at, kind, points, ref, expires_on FROM points_entry WHERE member = {}"
        " ORDER BY at DESC, id DESC LIMIT {} OFFSET {}",
        member_id,
        limit,
        offset,
    )


async def wallet_rows(rules_setting: str, member_id: int) -> list[dict]:
    """One round trip for the rules, the tier and the ledger by expiry day (every selling counter's scan shows the
    wallet): one row per expiry group, or one row with null points when the member has no entries."""
    return await fetch(
        "SELECT (SELECT ls.value FROM loyalty_setting ls WHERE ls.name = {}) AS rules,"
        " (SELECT ml.tier FROM member_loyalty ml WHERE ml.member = {}) AS tier, g.expires_on, g.points"
        " FROM (SELECT 1 AS one) base LEFT JOIN (SELECT expires_on, SUM(points) AS points FROM points_entry"
        " WHERE member = {} GROUP BY expires_on) g ON 1 = 1",
        rules_setting,
        member_id,
        member_id,
    )


# ---------------------------------------------------------------- set-based jobs


async def expire_lots(stamp: str, today: date, at: datetime) -> list[dict]:
    """One expire entry per member with unused points in lots past their last day (key expire:{member}:{stamp})."""
    return await fetch(
        _ENTRY_INSERT
        + " SELECT t.member, 'expire', -t.amount, {}, 'expire:' || CAST(t.member AS VARCHAR(20)) || ':' || {},"
        " NULL, NULL, NULL, {} FROM ("
        "  SELECT member,"
        "   SUM(CASE WHEN expires_on IS NOT NULL AND expires_on < {} THEN points ELSE 0 END)"
        "   + SUM(CASE WHEN expires_on IS NULL THEN points ELSE 0 END) AS amount"
        "  FROM points_entry"
        "  WHERE member IN (SELECT DISTINCT member FROM points_entry WHERE expires_on < {})"
        "  GROUP BY member) t"
        " WHERE t.amount > 0"
        " ON CONFLICT (key) DO NOTHING RETURNING member",
        stamp,
        stamp,
        at,
        today,
        today,
    )


async def refresh_after_expiry(stamp: str) -> None:
    """The cached balance of every member an expiry run (`stamp`) took points from."""
    await fetch(
        "INSERT INTO member_loyalty (member, tier, balance) SELECT DISTINCT member, 'regular', 0 FROM points_entry"
        " WHERE kind = 'expire' AND ref = {} ON CONFLICT (member) DO NOTHING",
        stamp,
    )
    await fetch(
        "UPDATE member_loyalty SET balance = (SELECT COALESCE(SUM(p.points), 0) FROM points_entry p"
        " WHERE p.member = member_loyalty.member)"
        " WHERE member IN (SELECT member FROM points_entry WHERE kind = 'expire' AND ref = {})",
        stamp,
    )


_TIER_CASE = (
    "CASE WHEN COALESCE(sp.spend, 0) >= {} THEN 'diamond' WHEN COALESCE(sp.spend, 0) >= {} THEN 'gold'"
    " WHEN COALESCE(sp.spend, 0) >= {} THEN 'silver' ELSE 'regular' END"
)
_ROLLING_SPEND = (
    "SELECT member, SUM(amount) AS spend FROM ("
    " SELECT member, total AS amount FROM sale WHERE member IS NOT NULL AND created_at >= {}"
    " UNION ALL SELECT s.member, -r.amount AS amount FROM sale_return r JOIN sale s ON s.id = r.sale"
    " WHERE s.member IS NOT NULL AND r.created_at >= {}) x GROUP BY member"
)


async def review(today: date, due: date, since: datetime, thresholds: tuple[int, int, int]) -> int:
    """Give every member not reviewed since `due` the tier their spend since `since` reaches (`thresholds`:
    diamond, gold, silver in fen); how many changed tier."""
    changed = await fetch(
        "SELECT COUNT(*) AS n FROM member_loyalty ml LEFT JOIN (" + _ROLLING_SPEND + ") sp ON sp.member = ml.member"
        " WHERE (ml.reviewed_on IS NULL OR ml.reviewed_on < {}) AND ml.tier <> " + _TIER_CASE,
        since,
        since,
        due,
        *thresholds,
    )
    await fetch(
        "UPDATE member_loyalty SET tier = t.new_tier,"
        " tier_since = CASE WHEN t.new_tier <> member_loyalty.tier THEN {} ELSE member_loyalty.tier_since END,"
        " reviewed_on = {}"
        " FROM (SELECT ml.member, " + _TIER_CASE + " AS new_tier FROM member_loyalty ml"
        " LEFT JOIN (" + _ROLLING_SPEND + ") sp ON sp.member = ml.member"
        " WHERE ml.reviewed_on IS NULL OR ml.reviewed_on < {}) t"
        " WHERE member_loyalty.member = t.member",
        today,
        today,
        *thresholds,
        since,
        since,
        due,
    )
    return int(changed[0]["n"])
