"""SQL of a sale: the reads a quote makes in one round trip each, the sale's writes, and reading a sale back.

The quote and the sale are benchmarked hot paths: their statements read other domains' tables in the same round
trip where that saves one (the member with their loyalty row, allergies and the loyalty rules; products joined to
lines and medication history), and each statement's text is as it was measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from app.db import fetch, marks


def is_unique_violation(exc: BaseException) -> bool:
    """Whether a database error is a unique constraint's (an idempotency key, a unit's traceability code)."""
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("UniqueViolationError", "IntegrityError") and ("unique" in text or "duplicate" in text)


# ---------------------------------------------------------------- what a quote reads

_STAFF_FOR_PIN = "SELECT id, username, display_name, role, store, pin_hash, active FROM staff WHERE username = {}"


async def staff_for_pin(username: str) -> list[dict]:
    """The staff row a typed username names (with its PIN hash)."""
    return await fetch(_STAFF_FOR_PIN, username)


async def active_staff(ids: Sequence[int]) -> list[dict]:
    """Active staff rows (id, role, store, display_name) of these ids, in one query."""
    return await fetch(
        "SELECT id, role, store, display_name FROM staff WHERE active = {} AND id IN (" + marks(len(ids)) + ")",
        True,
        *ids,
    )


_QUOTE_MEMBER = (
    "SELECT m.id, m.member_no, m.name, m.phone_masked, m.allergy_status, m.merged_into,"
    " ml.tier, ml.balance,"  # the cached balance: kept equal to the ledger's sum in every ledger write
    " a.allergen_class, a.substance, a.criticality, a.reaction, a.severity,"
    " (SELECT ls.value FROM loyalty_setting ls WHERE ls.name = {}) AS rules"
    " FROM member m LEFT JOIN member_loyalty ml ON ml.member = m.id"
    " LEFT JOIN allergy a ON a.member = m.id AND a.clinical_status = 'active'"
    " AND a.verification_status NOT IN ('refuted', 'entered-in-error')"
)


async def quote_member_by_no(rules_setting: str, member_no: str) -> list[dict]:
    """The member of a number with tier, balance, active recorded allergies (one row each) and the loyalty rules."""
    return await fetch(_QUOTE_MEMBER + " WHERE m.member_no = {}", rules_setting, member_no)


async def quote_member_by_id(rules_setting: str, member_id: int) -> list[dict]:
    """As `quote_member_by_no`, by id (the survivor of a merge)."""
    return await fetch(_QUOTE_MEMBER + " WHERE m.id = {}", rules_setting, member_id)


async def medication_in_supply(member_id: int, today: date) -> list[dict]:
    """The member's earlier purchases still within their days of supply, with the product's names."""
    return await fetch(
        "SELECT md.atc, md.supply_until, md.started_on, p.name_zh, p.name_en FROM medication md"
        " JOIN product p ON p.id = md.product"
        " WHERE md.member = {} AND md.supply_until >= {}",
        member_id,
        today,
    )


async def store_id_by_code(code: str) -> int | None:
    """The id of the store with this code, or None."""
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    return rows[0]["id"] if rows else None


async def store_row(store_id: int) -> list[dict]:
    """The store's code, name and phone (for the sale number and the receipt)."""
    return await fetch("SELECT id, code, name, phone FROM store WHERE id = {}", store_id)


# ---------------------------------------------------------------- writing a sale


async def sale_id_by_key(key: str) -> int | None:
    rows = await fetch("SELECT id FROM sale WHERE idempotency_key = {}", key)
    return rows[0]["id"] if rows else None


async def insert_sale(row_id: int | None, values: Sequence[Any]) -> list[dict]:
    """Insert the sale row (with its id when `row_id` is given) unless its idempotency key is taken: [{"id"}] or
    [] (a replay got here first). `values` in the column order below, from sale_no to created_at."""
    column, mark, ids = ("id, ", "{}, ", (row_id,)) if row_id is not None else ("", "", ())
    return await fetch(
        "INSERT INTO sale (" + column + "sale_no, idempotency_key, store, staff, member, status, subtotal,"
        " line_discount, coupon_discount, total, paid, change_given, points_earned, points_redeemed,"
        " override_reason, override_by, rx_number, rx_hospital, rx_image, rx_verified_by, created_at)"
        " VALUES (" + mark + "{}, {}, {}, {}, {}, 'completed', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},"
        " {}, {}, {}, {}) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        *ids,
        *values,
    )


async def insert_sale_lines(count: int, args: Sequence[Any]) -> list[dict]:
    """`count` lines in one multi-row insert (10 values each: sale … total, alerts, codes): [{"id", "line_no"}]."""
    values = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {})" for _ in range(count))
    return await fetch(
        "INSERT INTO sale_line (sale, line_no, product, qty, unit_price, line_discount, coupon_share, total,"
        " returned_qty, alerts, codes) VALUES " + values + " RETURNING id, line_no",
        *args,
    )


async def sold_trace_codes(codes: Sequence[str]) -> list[dict]:
    """Those of `codes` sold and not returned."""
    return await fetch(
        "SELECT code FROM sale_trace_code WHERE returned = 0 AND code IN (" + marks(len(codes)) + ")", *codes
    )


async def insert_trace_codes(traced: Sequence[tuple[int, str]]) -> list[dict]:
    """(sale line, code) pairs; a code sold meanwhile is skipped (the partial unique index): [{"code"}] inserted."""
    return await fetch(
        "INSERT INTO sale_trace_code (sale_line, code, returned) VALUES "
        + ", ".join("({}, {}, 0)" for _ in traced)
        + " ON CONFLICT (code) WHERE returned = 0 DO NOTHING RETURNING code",
        *[x for pair in traced for x in pair],
    )


async def insert_tenders(sale_id: int, tenders: Sequence[tuple[str, int, str]]) -> None:
    """(kind, amount, reference) rows of a sale."""
    await fetch(
        "INSERT INTO sale_tender (sale, kind, amount, reference) VALUES "
        + ", ".join("({}, {}, {}, {})" for _ in tenders),
        *[x for kind, amount, reference in tenders for x in (sale_id, kind, amount, reference)],
    )


async def set_points_earned(sale_id: int, points: int) -> None:
    await fetch("UPDATE sale SET points_earned = {} WHERE id = {}", points, sale_id)


async def insert_medication(count: int, args: Sequence[Any]) -> None:
    """`count` medication history rows (8 values each: member … store)."""
    await fetch(
        "INSERT INTO medication (member, sale_line, product, atc, qty, started_on, supply_until, store) VALUES "
        + ", ".join("({}, {}, {}, {}, {}, {}, {}, {})" for _ in range(count)),
        *args,
    )


async def insert_approvals(sale_id: int, rows: Sequence[Sequence[Any]]) -> None:
    """(kind, line_no, allergen class, reason, staff, at) rows of a sale."""
    await fetch(
        "INSERT INTO sale_approval (sale, kind, line_no, allergen_class, reason, staff, at) VALUES "
        + ", ".join("({}, {}, {}, {}, {}, {}, {})" for _ in rows),
        *[x for row in rows for x in (sale_id, *row)],
    )


# ---------------------------------------------------------------- reading a sale back


async def sale_with_names(sale_id: int) -> list[dict]:
    """The sale row with its store's code, name and phone, and the display names of the staff on it."""
    return await fetch(
        "SELECT s.*, st.code AS store_code, st.name AS store_name, st.phone AS store_phone,"
        " sf.display_name AS staff_name, sf.role AS staff_role,"
        " m.member_no, m.name AS member_name, m.phone_masked AS member_phone_masked,"
        " ob.display_name AS override_by_name,"
        " rb.display_name AS rx_verified_by_name"
        " FROM sale s JOIN store st ON st.id = s.store JOIN staff sf ON sf.id = s.staff"
        " LEFT JOIN member m ON m.id = s.member LEFT JOIN staff ob ON ob.id = s.override_by"
        " LEFT JOIN staff rb ON rb.id = s.rx_verified_by WHERE s.id = {}",
        sale_id,
    )


async def sale_lines(sale_id: int) -> list[dict]:
    return await fetch(
        "SELECT sl.*, p.sku, p.name_zh, p.name_en, p.atc, p.rx_class, p.cold_chain FROM sale_line sl"
        " JOIN product p ON p.id = sl.product WHERE sl.sale = {} ORDER BY sl.line_no",
        sale_id,
    )


async def sale_tenders(sale_id: int) -> list[dict]:
    return await fetch("SELECT kind, amount, reference FROM sale_tender WHERE sale = {} ORDER BY id", sale_id)


async def sale_returns(sale_id: int) -> list[dict]:
    """The sale's returns, one row per returned line (or one without a line), with staff names."""
    return await fetch(
        "SELECT r.id, r.return_no, r.reason, r.amount, r.points_reversed, r.points_restored, r.created_at,"
        " r.tender_reason, sf.display_name AS staff_name, ab.display_name AS approved_by_name,"
        " sl.line_no, rl.qty, rl.amount AS line_amount"
        " FROM sale_return r JOIN staff sf ON sf.id = r.staff LEFT JOIN staff ab ON ab.id = r.approved_by"
        " LEFT JOIN sale_return_line rl ON rl.sale_return = r.id LEFT JOIN sale_line sl ON sl.id = rl.sale_line"
        " WHERE r.sale = {} ORDER BY r.id, sl.line_no",
        sale_id,
    )


async def sale_approvals(sale_id: int) -> list[dict]:
    return await fetch(
        "SELECT a.kind, a.line_no, a.allergen_class, a.reason, a.staff, a.at, sf.display_name AS by_name"
        " FROM sale_approval a JOIN staff sf ON sf.id = a.staff WHERE a.sale = {} ORDER BY a.id",
        sale_id,
    )


async def sale_refund_tenders(sale_id: int) -> list[dict]:
    """The refund tenders of the sale's returns."""
    return await fetch(
        "SELECT rt.sale_return, rt.kind, rt.original_kind, rt.amount FROM sale_return_tender rt"
        " JOIN sale_return r ON r.id = rt.sale_return WHERE r.sale = {} ORDER BY rt.id",
        sale_id,
    )


# ---------------------------------------------------------------- finding sales


async def sale_ref(sale_no: str) -> list[dict]:
    """The id and store of a sale by its number."""
    return await fetch("SELECT id, store FROM sale WHERE sale_no = {}", sale_no)


async def recent(store_id: int, since: datetime | None, until: datetime | None, like: str, limit: int) -> list[dict]:
    """The store's latest sales (created in [since, until) when given; whose number is LIKE `like` when given),
    newest first, at most `limit`, with names and line counts."""
    where, args = "s.store = {}", [store_id]
    if since is not None:
        where += " AND s.created_at >= {} AND s.created_at < {}"
        args += [since, until]
    if like:
        where += " AND s.sale_no LIKE {}"
        args.append(like)
    return await fetch(
        "SELECT s.sale_no, s.created_at, s.total, s.status, m.name AS member_name, sf.display_name AS staff_name,"
        " (SELECT COUNT(*) FROM sale_line sl WHERE sl.sale = s.id) AS lines"
        " FROM sale s JOIN staff sf ON sf.id = s.staff LEFT JOIN member m ON m.id = s.member"
        " WHERE " + where + " ORDER BY s.created_at DESC, s.id DESC LIMIT " + str(int(limit)),
        *args,
    )


async def sale_no_by_number(store_id: int, text: str) -> list[dict]:
    """The sale a number names in the store: its own, or one of its returns'."""
    return await fetch(
        "SELECT sale_no FROM sale WHERE sale_no = {} AND store = {}"
        " UNION ALL SELECT s.sale_no FROM sale_return r JOIN sale s ON s.id = r.sale"
        " WHERE r.return_no = {} AND r.store = {}",
        text,
        store_id,
        text,
        store_id,
    )


async def sale_no_by_key(key: str) -> str | None:
    """The number of the sale an idempotency key made, if it made one."""
    rows = await fetch("SELECT sale_no FROM sale WHERE idempotency_key = {}", key)
    return rows[0]["sale_no"] if rows else None
