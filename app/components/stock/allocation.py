"""FEFO allocation for a sale: units leave by batch, first expiry first, only from batches that are available,
unexpired and have stock; a sale beyond stock only with a store manager's PIN, as one move without a batch.

Selling beyond stock: `allocate_sale` refuses with `OutOfStock` (a 422 on field "qty" naming the product and what is
available). When `oversell_allowed()` is on (setting `allow_oversell`, environment `YAOSHI_ALLOW_OVERSELL=1`), the
sale may go ahead only after a store manager has entered their PIN at the counter: the sale component checks the
PIN and then calls `allocate_sale(..., allow_oversell=True)`; the shortfall is recorded as one move without a
batch (nothing is taken from a batch that does not have it, so no batch goes below zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.components import catalog
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.stock import queries
from app.components.stock.batches import AVAILABLE
from app.db import as_date
from app.i18n import _
from app.settings import get_settings


def oversell_allowed() -> bool:
    """Whether a sale beyond recorded stock may go ahead with a store manager's PIN (setting `allow_oversell`)."""
    return bool(getattr(get_settings(), "allow_oversell", False))


class OutOfStock(ValidationFailed):
    """Not enough sellable stock for a sale line (field "qty")."""

    def __init__(self, product_id: int, product_name: str, requested: int, available: int) -> None:
        super().__init__(
            {
                "qty": _("Only %(available)s of %(product)s can be sold now (%(requested)s asked for).")
                % {"available": available, "product": product_name, "requested": requested}
            }
        )
        self.product_id = product_id
        self.requested = requested
        self.available = available


@dataclass(frozen=True)
class Allocation:
    """Units of a sale line taken from one batch; `batch_id` None is a shortfall a manager allowed."""

    batch_id: int | None
    batch_no: str | None
    expiry: date | None
    qty: int


def _sale_key(sale_no: str, line_no: int, batch_id: int | None) -> str:
    return f"sale:{sale_no}:{line_no}:{'none' if batch_id is None else batch_id}"


async def lock_store(store_id: int) -> None:
    """On PostgreSQL, serialise the sales and returns of one store until the transaction ends.

    A sale of products A then B and a concurrent one of B then A (or a two-line return) would each hold one
    product's batch rows and wait for the other's: a deadlock. Taking this lock first gives every transaction the
    same order. Receipts, counts and status changes touch a single batch and need not take it. On SQLite the
    IMMEDIATE transaction already serialises writers. Another domain's transaction that will move this store's
    stock takes it too (a return takes it before it reads what earlier refunds paid out, so two refunds of one
    sale at once are split one after the other).
    """
    await queries.lock_store(store_id)


async def _product_label(product_id: int) -> str:
    found = await catalog.products_by_ids([product_id])
    return found[product_id].name if product_id in found else str(product_id)


async def allocate_sale(
    store_id: int,
    product_id: int,
    qty: int,
    sale_no: str,
    line_no: int,
    actor: StaffUser,
    allow_oversell: bool = False,
) -> list[Allocation]:
    """Take `qty` units of a product for one sale line, first expiry first (call inside `transaction()`).

    Only batches that are available, not expired (store date) and have stock are used. A second call for the
    same sale line returns the first allocations and moves nothing. Short and not allowed: `OutOfStock`.
    """
    if qty <= 0:
        raise ValidationFailed({"qty": _("The quantity must be at least 1.")})
    await lock_store(store_id)
    # Every batch of the product in this store locked, so a concurrent sale waits and then sees what is left.
    batches = await queries.lock_product_batches(store_id, product_id)
    keys = [_sale_key(sale_no, line_no, b["id"]) for b in batches] + [_sale_key(sale_no, line_no, None)]
    existing = await queries.moves_by_keys(keys)
    if existing:
        return [Allocation(r["batch"], r["batch_no"], as_date(r["expiry"]), -r["qty"]) for r in existing]
    today = store_today()
    plan: list[tuple[dict | None, int]] = []
    remaining = qty
    for batch in batches:
        if remaining == 0:
            break
        if batch["status"] != AVAILABLE or as_date(batch["expiry"]) < today or batch["on_hand"] <= 0:
            continue
        take = min(remaining, batch["on_hand"])
        plan.append((batch, take))
        remaining -= take
    if remaining:
        if not allow_oversell:
            raise OutOfStock(product_id, await _product_label(product_id), qty, qty - remaining)
        plan.append((None, remaining))
    now = datetime.now(UTC)
    allocations = []
    for batch, take in plan:
        batch_id = batch["id"] if batch else None
        if batch is not None:
            # Conditional: never below zero, whatever a concurrent writer did (the lock makes this always true).
            if not await queries.take_from_batch(batch["id"], take):
                raise OutOfStock(product_id, await _product_label(product_id), qty, 0)
        inserted = await queries.insert_sale_moves(
            [(batch_id, store_id, product_id, -take, sale_no, _sale_key(sale_no, line_no, batch_id), actor.id, now)]
        )
        if not inserted:
            # A concurrent call for the same line got there first; undo this one's decrement by failing the
            # transaction rather than leaving the cache out of step with the ledger.
            raise ValidationFailed({"qty": _("This sale line is already being recorded; try again.")})
        allocations.append(
            Allocation(
                batch_id, batch["batch_no"] if batch else None, as_date(batch["expiry"]) if batch else None, take
            )
        )
    return allocations


async def allocate_sale_lines(
    store_id: int,
    lines: list[tuple[int, int, int]],
    sale_no: str,
    actor: StaffUser,
    allow_oversell: bool = False,
    new_sale: bool = False,
) -> dict[int, list[Allocation]]:
    """`allocate_sale` for every line of a sale at once (call inside `transaction()`): line_no → allocations.

    `lines` are (line_no, product_id, qty). Same rules and keys as `allocate_sale` called line after line (first
    expiry first; a product on two lines takes the second line's units from what the first left; a line already
    allocated returns its moves and moves nothing), in four statements whatever the number of lines: the batches,
    the existing moves, one conditional update of the batches and one insert of the moves. `new_sale` (the sale
    number was taken in this transaction, so no line of it can have moves yet) skips the look for existing moves;
    the moves' unique keys still refuse a duplicate.
    """
    if any(line[2] <= 0 for line in lines):
        raise ValidationFailed({"qty": _("The quantity must be at least 1.")})
    if not lines:
        return {}
    await lock_store(store_id)
    product_ids = sorted({line[1] for line in lines})
    batches = await queries.lock_products_batches(store_id, product_ids)
    by_product: dict[int, list[dict]] = {}
    for batch in batches:
        by_product.setdefault(batch["product"], []).append(batch)
    keys = [_sale_key(sale_no, line[0], b["id"]) for line in lines for b in by_product.get(line[1], [])]
    keys += [_sale_key(sale_no, line[0], None) for line in lines]
    existing = [] if new_sale else await queries.moves_by_keys(keys, with_key=True)
    done: dict[int, list[Allocation]] = {}
    for r in existing:
        line_no = int(r["key"].split(":")[2])
        done.setdefault(line_no, []).append(Allocation(r["batch"], r["batch_no"], as_date(r["expiry"]), -r["qty"]))
    today = store_today()
    left = {b["id"]: b["on_hand"] for b in batches}
    takes: dict[int, int] = {}  # batch id → units taken by this call
    moves: list[tuple[int, int, dict | None, int]] = []  # (line_no, product_id, batch or None, units)
    for line_no, product_id, qty in lines:
        if line_no in done:
            continue
        remaining = qty
        for batch in by_product.get(product_id, []):
            if remaining == 0:
                break
            if batch["status"] != AVAILABLE or as_date(batch["expiry"]) < today or left[batch["id"]] <= 0:
                continue
            take = min(remaining, left[batch["id"]])
            left[batch["id"]] -= take
            takes[batch["id"]] = takes.get(batch["id"], 0) + take
            moves.append((line_no, product_id, batch, take))
            remaining -= take
        if remaining:
            if not allow_oversell:
                raise OutOfStock(product_id, await _product_label(product_id), qty, qty - remaining)
            moves.append((line_no, product_id, None, remaining))
    if takes:
        # Conditional: never below zero, whatever a concurrent writer did (the lock makes this always true).
        short = set(takes) - await queries.take_from_batches(takes)
        if short:
            product_id = next(b["product"] for b in batches if b["id"] in short)
            qty = sum(move[3] for move in moves if move[1] == product_id)
            raise OutOfStock(product_id, await _product_label(product_id), qty, 0)
    if moves:
        now = datetime.now(UTC)
        rows = []
        for line_no, product_id, batch, take in moves:
            batch_id = batch["id"] if batch else None
            rows.append(
                (batch_id, store_id, product_id, -take, sale_no, _sale_key(sale_no, line_no, batch_id), actor.id, now)
            )
        if await queries.insert_sale_moves(rows) != len(moves):
            # A concurrent call for the same line got there first; undo this one's decrements by failing the
            # transaction rather than leaving the cache out of step with the ledger.
            raise ValidationFailed({"qty": _("This sale line is already being recorded; try again.")})
    for line_no, _product, batch, take in moves:
        done.setdefault(line_no, []).append(
            Allocation(
                batch["id"] if batch else None,
                batch["batch_no"] if batch else None,
                as_date(batch["expiry"]) if batch else None,
                take,
            )
        )
    return done


async def sellable(store_id: int, product_ids: list[int] | tuple[int, ...] | set[int]) -> dict[int, int]:
    """Units of each product that may be sold now in the store (available, unexpired batches); 0 when none."""
    ids = list(product_ids)
    if not ids:
        return {}
    rows = await queries.sellable_rows(store_id, AVAILABLE, store_today(), ids)
    found = {r["product"]: int(r["qty"]) for r in rows}
    return {pid: found.get(pid, 0) for pid in ids}
