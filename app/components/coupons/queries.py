"""The SQL of coupons' tables (coupon_template, coupon): the one module that writes it.

`lock_member` locks the member's row of the members domain (issues to one member are serialised); `member_store`
reads a member's number and home store to check who may issue to them.
"""

from __future__ import annotations

from datetime import date, datetime

from app.db import fetch, lock_row, marks

TEMPLATE_COLUMNS = (
    "t.id, t.code, t.name_zh, t.name_en, t.kind, t.value, t.threshold, t.scope, t.scope_value, t.valid_from,"
    " t.valid_to, t.valid_days, t.per_member_limit, t.stackable, t.restore_on_return, t.active"
)
_TEMPLATE_INSERT = (
    "INSERT INTO coupon_template (code, name_zh, name_en, kind, value, threshold, scope, scope_value,"
    " valid_from, valid_to, valid_days, per_member_limit, stackable, restore_on_return, active, created_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)

# ---------------------------------------------------------------- templates


async def template_rows() -> list[dict]:
    """Every template, newest first, with how many coupons were issued and redeemed."""
    return await fetch(
        "SELECT " + TEMPLATE_COLUMNS + ", COUNT(c.id) AS issued,"
        " SUM(CASE WHEN c.status = 'redeemed' THEN 1 ELSE 0 END) AS redeemed"
        " FROM coupon_template t LEFT JOIN coupon c ON c.template = t.id"
        " GROUP BY " + TEMPLATE_COLUMNS + " ORDER BY t.id DESC"
    )


async def template_row(code: str) -> dict | None:
    rows = await fetch("SELECT " + TEMPLATE_COLUMNS + " FROM coupon_template t WHERE t.code = {}", code)
    return rows[0] if rows else None


async def template_exists(code: str) -> bool:
    return bool(await fetch("SELECT id FROM coupon_template WHERE code = {}", code))


async def insert_template(values: tuple) -> None:
    """A new template: (code, name_zh, name_en, kind, value, threshold, scope, scope_value, valid_from, valid_to,
    valid_days, per_member_limit, stackable, restore_on_return, active, created_at)."""
    await fetch(_TEMPLATE_INSERT, *values)


async def insert_template_if_missing(values: tuple) -> None:
    """`insert_template`, nothing when the code exists (the demo's)."""
    await fetch(_TEMPLATE_INSERT + " ON CONFLICT (code) DO NOTHING", *values)


async def count_templates() -> int:
    return int((await fetch("SELECT COUNT(*) AS n FROM coupon_template"))[0]["n"])


# ---------------------------------------------------------------- issued coupons


async def member_store(member_id: int) -> dict | None:
    """The member's number and home store (members' table)."""
    rows = await fetch("SELECT member_no, home_store FROM member WHERE id = {}", member_id)
    return rows[0] if rows else None


async def lock_member(member_id: int) -> None:
    """Serialise issues to one member until the transaction ends."""
    await lock_row("member", member_id)


async def by_source_key(source_key: str) -> dict | None:
    """code, valid_from and valid_to of the coupon issued under this key."""
    rows = await fetch("SELECT code, valid_from, valid_to FROM coupon WHERE source_key = {}", source_key)
    return rows[0] if rows else None


async def held_count(template_id: int, member_id: int) -> int:
    """The member's coupons of a template that are not void."""
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM coupon WHERE template = {} AND member = {} AND status <> 'void'",
        template_id,
        member_id,
    )
    return int(rows[0]["n"])


async def insert_coupon(
    code: str,
    template_id: int,
    member_id: int | None,
    source: str,
    source_key: str | None,
    valid_from: date | None,
    valid_to: date | None,
    at: datetime,
) -> dict | None:
    """A new issued coupon; None when its source key was there already. Returns code, valid_from, valid_to."""
    rows = await fetch(
        "INSERT INTO coupon (code, template, member, status, source, source_key, valid_from, valid_to, issued_at)"
        " VALUES ({}, {}, {}, 'issued', {}, {}, {}, {}, {}) ON CONFLICT (source_key) DO NOTHING"
        " RETURNING code, valid_from, valid_to",
        code,
        template_id,
        member_id,
        source,
        source_key,
        valid_from,
        valid_to,
        at,
    )
    return rows[0] if rows else None


# ---------------------------------------------------------------- the cart and the sale


async def coupons_by_code(codes: list[str]) -> list[dict]:
    """The coupons with these codes, each with its template's terms."""
    return await fetch(
        "SELECT c.id, c.code, c.member, c.status, c.valid_from, c.valid_to, c.template, t.code AS template_code,"
        " t.name_zh, t.name_en, t.kind, t.value, t.threshold, t.scope, t.scope_value, t.per_member_limit,"
        " t.stackable, t.active FROM coupon c JOIN coupon_template t ON t.id = c.template"
        " WHERE c.code IN (" + marks(codes) + ")",
        *codes,
    )


async def redeemed_by_template(member_id: int, template_ids: list[int]) -> dict[int, int]:
    """template → how many of its coupons the member has redeemed."""
    rows = await fetch(
        "SELECT template, COUNT(*) AS n FROM coupon WHERE member = {} AND status = 'redeemed'"
        " AND template IN (" + marks(template_ids) + ") GROUP BY template",
        member_id,
        *template_ids,
    )
    return {r["template"]: int(r["n"]) for r in rows}


async def redeem(code: str, sale_id: int, member_id: int | None, at: datetime) -> bool:
    """Mark an issued coupon redeemed by a sale (only one still issued, the member's or a bearer code)."""
    rows = await fetch(
        "UPDATE coupon SET status = 'redeemed', sale = {}, redeemed_at = {}, member = COALESCE(member, {})"
        " WHERE code = {} AND status = 'issued' AND (member IS NULL OR member = {}) RETURNING id",
        sale_id,
        at,
        member_id,
        code,
        member_id,
    )
    return bool(rows)


async def redeemed_by_sale(code: str, sale_id: int) -> bool:
    return bool(await fetch("SELECT id FROM coupon WHERE code = {} AND sale = {}", code, sale_id))


async def restore(sale_id: int) -> list[str]:
    """Make the coupons a sale redeemed issued again where their template says so; their codes."""
    rows = await fetch(
        "UPDATE coupon SET status = 'issued', sale = NULL, redeemed_at = NULL"
        " WHERE sale = {} AND status = 'redeemed'"
        " AND template IN (SELECT id FROM coupon_template WHERE restore_on_return = {}) RETURNING code",
        sale_id,
        True,
    )
    return [r["code"] for r in rows]


async def wallet_rows(member_id: int, on_date: date) -> list[dict]:
    """The member's coupons usable on `on_date`, soonest to expire first, with their templates."""
    return await fetch(
        "SELECT c.code AS coupon_code, c.valid_to AS c_valid_to, " + TEMPLATE_COLUMNS + " FROM coupon c"
        " JOIN coupon_template t ON t.id = c.template"
        " WHERE c.member = {} AND c.status = 'issued' AND t.active = {}"
        " AND (c.valid_from IS NULL OR c.valid_from <= {}) AND (c.valid_to IS NULL OR c.valid_to >= {})"
        " ORDER BY c.valid_to IS NULL, c.valid_to, c.id",
        member_id,
        True,
        on_date,
        on_date,
    )
