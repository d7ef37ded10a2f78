"""SQL of a member's purchase history: their latest sales in every store, the lines of those, and the medicines
whose supply is current."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from app.db import fetch, marks


async def member_sales(member_id: int, limit: int) -> list[dict]:
    """The member's latest sales (at most `limit`), newest first, with the store's name."""
    return await fetch(
        "SELECT s.id, s.sale_no, s.created_at, s.total, s.status, s.points_earned, st.name AS store FROM sale s"
        " JOIN store st ON st.id = s.store WHERE s.member = {} ORDER BY s.created_at DESC, s.id DESC"
        " LIMIT " + str(int(limit)),
        member_id,
    )


async def lines_of_sales(sale_ids: Sequence[int]) -> list[dict]:
    """The lines of these sales with their products' names, in sale and line order."""
    return await fetch(
        "SELECT l.sale, l.qty, l.returned_qty, l.total, p.name_zh, p.name_en, p.rx_class FROM sale_line l"
        " JOIN product p ON p.id = l.product WHERE l.sale IN (" + marks(sale_ids) + ") ORDER BY l.sale, l.line_no",
        *sale_ids,
    )


async def medicines_since(member_id: int, since: date) -> list[dict]:
    """The member's medication whose supply runs until `since` or later, soonest first, with product names."""
    return await fetch(
        "SELECT m.qty, m.started_on, m.supply_until, m.atc, p.name_zh, p.name_en, p.generic_zh, p.generic_en"
        " FROM medication m JOIN product p ON p.id = m.product"
        " WHERE m.member = {} AND m.supply_until IS NOT NULL AND m.supply_until >= {}"
        " ORDER BY m.supply_until, m.id",
        member_id,
        since,
    )
