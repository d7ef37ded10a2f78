"""SQL of a return: its row and lines, the sale lines' returned units, trace codes and medication history after
it, what earlier refunds of the sale paid out, and the refund's tenders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from app.db import fetch


async def return_by_key(key: str) -> tuple[int, int] | None:
    """(return id, sale id) of the return an idempotency key made."""
    rows = await fetch("SELECT id, sale FROM sale_return WHERE idempotency_key = {}", key)
    return (rows[0]["id"], rows[0]["sale"]) if rows else None


async def insert_return(row_id: int | None, values: Sequence[Any]) -> list[dict]:
    """Insert the return row (with its id when `row_id` is given) unless its key is taken: [{"id"}] or []. `values`
    are return_no, key, sale, store, staff, reason, approved_by, tender_reason, created_at."""
    column, mark, ids = ("id, ", "{}, ", (row_id,)) if row_id is not None else ("", "", ())
    return await fetch(
        "INSERT INTO sale_return (" + column + "return_no, idempotency_key, sale, store, staff, reason,"
        " amount, points_reversed, points_restored, approved_by, tender_reason, created_at) VALUES ("
        + mark
        + "{}, {}, {}, {}, {}, {}, 0, 0, 0, {}, {}, {}) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        *ids,
        *values,
    )


async def add_returned(line_id: int, qty: int) -> int | None:
    """Count `qty` more units of the sale line as returned, unless that passes what was sold: the new returned
    quantity, or None (the guard against two refunds of the same units at once)."""
    rows = await fetch(
        "UPDATE sale_line SET returned_qty = returned_qty + {} WHERE id = {} AND returned_qty + {} <= qty"
        " RETURNING returned_qty",
        qty,
        line_id,
        qty,
    )
    return rows[0]["returned_qty"] if rows else None


async def insert_return_line(return_id: int, line_id: int, qty: int, amount: int) -> None:
    await fetch(
        "INSERT INTO sale_return_line (sale_return, sale_line, qty, amount) VALUES ({}, {}, {}, {})",
        return_id,
        line_id,
        qty,
        amount,
    )


async def return_trace_codes(line_id: int, qty: int) -> None:
    """Mark `qty` of the line's sold traceability codes returned (oldest first): those units may be sold again."""
    await fetch(
        "UPDATE sale_trace_code SET returned = 1 WHERE id IN (SELECT id FROM sale_trace_code"
        " WHERE sale_line = {} AND returned = 0 ORDER BY id LIMIT " + str(int(qty)) + ")",
        line_id,
    )


async def delete_medication(line_id: int) -> None:
    await fetch("DELETE FROM medication WHERE sale_line = {}", line_id)


async def medication_started(line_id: int) -> list[dict]:
    return await fetch("SELECT started_on FROM medication WHERE sale_line = {}", line_id)


async def update_medication(line_id: int, qty: int, supply_until: date | None) -> None:
    await fetch(
        "UPDATE medication SET qty = {}, supply_until = {} WHERE sale_line = {}",
        qty,
        supply_until,
        line_id,
    )


async def earlier_refunds(sale_id: int, return_id: int) -> tuple[int, int]:
    """(money refunded, points restored) by the sale's other returns."""
    rows = await fetch(
        "SELECT COALESCE(SUM(amount), 0) AS refunded, COALESCE(SUM(points_restored), 0) AS restored"
        " FROM sale_return WHERE sale = {} AND id <> {}",
        sale_id,
        return_id,
    )
    return int(rows[0]["refunded"]), int(rows[0]["restored"])


async def units_left(sale_id: int) -> int:
    """Units of the sale not returned yet."""
    rows = await fetch(
        "SELECT COALESCE(SUM(qty - returned_qty), 0) AS remaining FROM sale_line WHERE sale = {}", sale_id
    )
    return int(rows[0]["remaining"])


async def paid_out(sale_id: int) -> dict[str, int]:
    """What the sale's refunds so far took from each of its tender kinds."""
    rows = await fetch(
        "SELECT rt.original_kind, SUM(rt.amount) AS amount FROM sale_return_tender rt"
        " JOIN sale_return r ON r.id = rt.sale_return WHERE r.sale = {} GROUP BY rt.original_kind",
        sale_id,
    )
    return {r["original_kind"]: int(r["amount"]) for r in rows}


async def insert_return_tenders(return_id: int, rows: Sequence[tuple[str, str, int]]) -> None:
    """(kind paid, original kind, amount) rows of a refund."""
    await fetch(
        "INSERT INTO sale_return_tender (sale_return, kind, original_kind, amount) VALUES "
        + ", ".join("({}, {}, {}, {})" for _ in rows),
        *[x for row in rows for x in (return_id, *row)],
    )


async def set_return_totals(return_id: int, amount: int, points_reversed: int, points_restored: int) -> None:
    await fetch(
        "UPDATE sale_return SET amount = {}, points_reversed = {}, points_restored = {} WHERE id = {}",
        amount,
        points_reversed,
        points_restored,
        return_id,
    )


async def set_sale_status(sale_id: int, status: str) -> None:
    await fetch("UPDATE sale SET status = {} WHERE id = {}", status, sale_id)
