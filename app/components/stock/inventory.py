"""Stock by batch: receipts, first-expiry-first-out allocation to sales, returns held in quarantine, status, counts.

The ledger is `stock_move` (append-only, one unique `key` per move so a retried operation moves nothing twice);
`stock_batch.on_hand` caches the sum of a batch's moves and is only ever changed in the same transaction as the
move that explains it, so `on_hand == SUM(stock_move.qty)` per batch always holds.

Selling beyond stock: `allocate_sale` refuses with `OutOfStock` (a 422 on field "qty" naming the product and what is
available). When `oversell_allowed()` is on (setting `allow_oversell`, environment `YAOSHI_ALLOW_OVERSELL=1`), the
sale may go ahead only after a store manager has entered their PIN at the counter: the sale component checks the
PIN and then calls `allocate_sale(..., allow_oversell=True)`; the shortfall is recorded as one move without a
batch (nothing is taken from a batch that does not have it, so no batch goes below zero).

Returns: what a customer brings back is never sellable at once. `quarantine_return` moves the units back into the
batches they came from and straight out again into a returned pack held in quarantine; a manager then releases
the pack to its batch (a "release" move) or writes it off, with a reason, audited. Dispensed Rx, antibiotic and
cold-chain medicines can only be written off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from app.components import audit, catalog, scanning
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch, is_sqlite, transaction
from app.i18n import _, pick
from app.settings import get_settings

AVAILABLE, QUARANTINED, RECALLED = "available", "quarantined", "recalled"
STATUSES = (AVAILABLE, QUARANTINED, RECALLED)
# Not a stored status: what a list shows for a batch past its expiry (see `batch_state`).
EXPIRED = "expired"
STATUS_ACTION = "stock.batch_status"
ADJUST_ACTION = "stock.adjust"
# A returned pack waits in quarantine (held) until a manager releases it to its batch or writes it off.
HELD, RELEASED, WRITTEN_OFF = "held", "released", "written_off"
RELEASE_ACTION = "stock.returned_release"
RETURNED_WRITE_OFF_ACTION = "stock.returned_write_off"
# A batch written off from a list (expired, damaged): a stock move out of everything on hand.
WRITE_OFF_ACTION = "stock.write_off"
MAX_QTY = 1_000_000
MAX_KEY = 80
BATCH_NO_MAX = 20
PER_PAGE = 50
# Advisory-lock class of a store's sales and returns (two-key form: apart from the migration lock's key space).
STORE_LOCK_CLASS = 727275


def oversell_allowed() -> bool:
    """Whether a sale beyond recorded stock may go ahead with a store manager's PIN (setting `allow_oversell`)."""
    return bool(getattr(get_settings(), "allow_oversell", False))


def status_label(status: str) -> str:
    """A batch status (or the shown state "expired") in the current language."""
    return {
        AVAILABLE: _("Available"),
        QUARANTINED: _("Quarantined"),
        RECALLED: _("Recalled"),
        EXPIRED: _("Expired"),
    }.get(status, status)


def batch_state(status: str, expiry: date, today: date | None = None) -> str:
    """What every batch list shows: a recall first (it is final), then "expired" once the expiry date is before
    the store's today (whatever the stored status says), else the stored status. The sale's allocation applies
    the same rule: a batch sells only while its expiry is today or later."""
    if status == RECALLED:
        return RECALLED
    if expiry < (today or store_today()):
        return EXPIRED
    return status


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
class Receipt:
    """A delivery into a store. `product` is a SKU, an alias or any scannable code; a GS1 code also fills an
    empty batch and expiry. `expiry` is a date or YYYY-MM-DD. Without a `key` every call is a new receipt; with
    one, a replay returns the first result and adds nothing."""

    store_code: str
    product: str
    batch_no: str = ""
    expiry: date | str | None = None
    qty: int | str = 0
    key: str = ""


@dataclass(frozen=True)
class BatchView:
    """One batch as shown and returned by the API. `replayed` is True when a receipt key had been seen before."""

    id: int
    store_id: int
    store_code: str
    product_id: int
    sku: str
    product_name: str
    batch_no: str
    expiry: date
    status: str
    on_hand: int
    received_at: datetime | None = None
    replayed: bool = False

    @property
    def expired(self) -> bool:
        return self.expiry < store_today()

    @property
    def state(self) -> str:
        """available | quarantined | recalled | expired, as lists show it (`batch_state`)."""
        return batch_state(self.status, self.expiry)

    @property
    def sellable(self) -> bool:
        return self.state == AVAILABLE and self.on_hand > 0

    @property
    def may_write_off(self) -> bool:
        """Stock that may not be sold (expired, quarantined, recalled) and is still on the shelf."""
        return self.state != AVAILABLE and self.on_hand > 0

    def as_json(self) -> dict:
        """The API's body for a batch."""
        return {
            "batch_id": self.id,
            "store": self.store_code,
            "product": self.sku,
            "product_name": self.product_name,
            "batch": self.batch_no,
            "expiry": self.expiry.isoformat(),
            "status": self.status,
            "state": self.state,  # what the lists show: "expired" once past its expiry, whatever `status` says
            "on_hand": self.on_hand,
        }


@dataclass(frozen=True)
class Allocation:
    """Units of a sale line taken from one batch; `batch_id` None is a shortfall a manager allowed."""

    batch_id: int | None
    batch_no: str | None
    expiry: date | None
    qty: int


@dataclass(frozen=True)
class ProductStock:
    """One product's stock in a store: what may be sold, what is held back, the nearest sellable expiry."""

    product_id: int
    sku: str
    name: str
    sellable: int
    blocked: int
    nearest_expiry: date | None
    batches: int


@dataclass(frozen=True)
class StockPage:
    """One page of a store's stock, by SKU."""

    rows: list[ProductStock]
    page: int
    per_page: int
    has_next: bool
    q: str = ""
    store_id: int | None = None


# ---------------------------------------------------------------- helpers


def _as_date(value: date | str | None) -> date | None:
    """A date from the database (SQLite returns aggregates of dates as text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# The longest shelf life a received batch may claim (medicines keep 2–5 years).
MAX_SHELF_YEARS = 10


def _parse_expiry(value: date | str | None) -> date | None:
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_qty(value: int | str) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value or "").strip()
    return int(text) if text.isdigit() or (text.startswith("-") and text[1:].isdigit()) else None


def _typed(sql_type: str) -> str:
    """A placeholder PostgreSQL can type inside a SELECT list (SQLite would turn a CAST to DATE into a number)."""
    return "{}" if is_sqlite() else f"CAST({{}} AS {sql_type})"


def _product_name(row: dict) -> str:
    return pick(row["name_zh"], row["name_en"] or row["name_zh"])


async def _store(code: str) -> dict | None:
    rows = await fetch("SELECT id, code, name FROM store WHERE code = {}", (code or "").strip())
    return rows[0] if rows else None


_BATCH_SQL = (
    "SELECT b.id, b.store AS store_id, st.code AS store_code, b.product AS product_id, p.sku, p.name_zh, p.name_en,"
    " b.batch_no, b.expiry, b.status, b.on_hand, b.received_at"
    " FROM stock_batch b JOIN store st ON st.id = b.store JOIN product p ON p.id = b.product"
)


def _batch_view(row: dict, replayed: bool = False) -> BatchView:
    return BatchView(
        id=row["id"],
        store_id=row["store_id"],
        store_code=row["store_code"],
        product_id=row["product_id"],
        sku=row["sku"],
        product_name=_product_name(row),
        batch_no=row["batch_no"],
        expiry=_as_date(row["expiry"]),  # type: ignore[arg-type]
        status=row["status"],
        on_hand=row["on_hand"],
        received_at=row["received_at"],
        replayed=replayed,
    )


async def get_batch(batch_id: int, store_id: int | None = None) -> BatchView:
    """One batch; NotFound when it does not exist or (with `store_id`) belongs to another store."""
    rows = await fetch(_BATCH_SQL + " WHERE b.id = {}", batch_id)
    if not rows or (store_id is not None and rows[0]["store_id"] != store_id):
        raise NotFound(_("No stock batch %(id)s in this store.") % {"id": batch_id})
    return _batch_view(rows[0])


async def product_batches(store_id: int, product_id: int) -> list[BatchView]:
    """Every batch of one product in one store, first expiry first."""
    rows = await fetch(
        _BATCH_SQL + " WHERE b.store = {} AND b.product = {} ORDER BY b.expiry, b.id", store_id, product_id
    )
    return [_batch_view(r) for r in rows]


# ---------------------------------------------------------------- receipts


@dataclass(frozen=True)
class _CheckedReceipt:
    store_id: int
    product_id: int
    batch_no: str
    expiry: date
    qty: int
    key: str


async def _check_receipt(data: Receipt, actor: StaffUser) -> _CheckedReceipt:
    """Validate every field at once so the form can show all messages together."""
    errors: dict[str, str] = {}
    store = await _store(data.store_code) if (data.store_code or "").strip() else None
    if not (data.store_code or "").strip():
        errors["store"] = _("Choose the store that received the delivery.")
    elif store is None:
        errors["store"] = _("No store with code %(code)s.") % {"code": data.store_code.strip()}
    elif actor.store_id is not None and store["id"] != actor.store_id:
        errors["store"] = _("You may receive stock only into your own store (%(code)s).") % {"code": actor.store_code}
    product: catalog.ProductView | None = None
    scan: scanning.Scan | None = None
    if not (data.product or "").strip():
        errors["product"] = _("Scan or type the product's barcode or SKU.")
    else:
        try:
            resolved = await catalog.resolve_code(data.product)
        except (scanning.BadScan, NotFound) as exc:
            errors["product"] = exc.message
        else:
            product, scan = resolved.product, resolved.scan
    batch_no = (data.batch_no or "").strip() or (scan.batch if scan and scan.batch else "")
    if not batch_no:
        errors["batch"] = _("Enter the batch number printed on the carton.")
    elif len(batch_no) > BATCH_NO_MAX:
        errors["batch"] = _("A batch number has at most %(n)s characters.") % {"n": BATCH_NO_MAX}
    expiry = _parse_expiry(data.expiry)
    if expiry is None and scan is not None and scan.expiry is not None and not str(data.expiry or "").strip():
        expiry = scan.expiry
    if expiry is None:
        errors["expiry"] = (
            _("Enter the expiry date as YYYY-MM-DD.")
            if str(data.expiry or "").strip()
            else _("Enter the expiry date printed on the carton.")
        )
    elif expiry < store_today():
        errors["expiry"] = _("This batch expired on %(date)s: expired stock cannot be received.") % {
            "date": expiry.isoformat()
        }
    elif expiry > store_today().replace(year=store_today().year + MAX_SHELF_YEARS, day=28):
        # No medicine keeps this long: a mistyped year (2206 for 2026) would keep the batch last in FEFO forever.
        errors["expiry"] = _("An expiry more than %(n)s years ahead is not on any carton: check the year.") % {
            "n": MAX_SHELF_YEARS
        }
    qty = _parse_qty(data.qty)
    if qty is None or qty <= 0:
        errors["qty"] = _("Enter how many packs arrived (a whole number above zero).")
    elif qty > MAX_QTY:
        errors["qty"] = _("At most %(n)s packs per receipt.") % {"n": MAX_QTY}
    key = (data.key or "").strip()
    if len(key) > MAX_KEY:
        errors["key"] = _("The idempotency key has at most %(n)s characters.") % {"n": MAX_KEY}
    if errors:
        raise ValidationFailed(errors)
    assert store is not None and product is not None and expiry is not None and qty is not None
    return _CheckedReceipt(store["id"], product.id, batch_no, expiry, qty, key or uuid.uuid4().hex)


async def _replay(move_key: str, checked: _CheckedReceipt) -> BatchView | None:
    """The batch of an earlier receipt with this key, or None; a key reused for another receipt is an error."""
    rows = await fetch("SELECT batch, store, product, qty FROM stock_move WHERE key = {}", move_key)
    if not rows:
        return None
    row = rows[0]
    view = await get_batch(row["batch"])
    if (row["store"], row["product"], view.batch_no, row["qty"]) != (
        checked.store_id,
        checked.product_id,
        checked.batch_no,
        checked.qty,
    ):
        raise ValidationFailed({"key": _("This key was already used for a different receipt.")})
    return BatchView(**{**view.__dict__, "replayed": True})


async def receive(data: Receipt, actor: StaffUser) -> BatchView:
    """Record a delivery: the batch (created on first receipt) gains `qty`. Idempotent by `data.key`.

    Raises ValidationFailed with fields store, product, batch, expiry, qty, key.
    """
    checked = await _check_receipt(data, actor)
    move_key = f"receipt:{checked.key}"
    async with transaction():
        found = await _replay(move_key, checked)
        if found is not None:
            return found
        now = datetime.now(UTC)
        await fetch(
            "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
            " VALUES ({}, {}, {}, {}, {}, 0, {}) ON CONFLICT (store, product, batch_no) DO NOTHING",
            checked.store_id,
            checked.product_id,
            checked.batch_no,
            checked.expiry,
            AVAILABLE,
            now,
        )
        batch = (
            await fetch(
                "SELECT id, expiry, status FROM stock_batch WHERE store = {} AND product = {} AND batch_no = {}"
                + ("" if is_sqlite() else " FOR UPDATE"),
                checked.store_id,
                checked.product_id,
                checked.batch_no,
            )
        )[0]
        if _as_date(batch["expiry"]) != checked.expiry:
            raise ValidationFailed(
                {
                    "expiry": _("Batch %(batch)s of this product is recorded with expiry %(date)s: check the carton.")
                    % {"batch": checked.batch_no, "date": _as_date(batch["expiry"])}
                }
            )
        if batch["status"] == RECALLED:
            raise ValidationFailed(
                {"batch": _("Batch %(batch)s is recalled and cannot be received.") % {"batch": checked.batch_no}}
            )
        inserted = await fetch(
            "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
            " VALUES ({}, {}, {}, {}, 'receipt', {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
            batch["id"],
            checked.store_id,
            checked.product_id,
            checked.qty,
            checked.key[:40],
            move_key,
            actor.id,
            now,
        )
        if not inserted:  # the same key committed by a concurrent request while this one waited
            found = await _replay(move_key, checked)
            assert found is not None
            return found
        await fetch("UPDATE stock_batch SET on_hand = on_hand + {} WHERE id = {}", checked.qty, batch["id"])
        return await get_batch(batch["id"])


# ---------------------------------------------------------------- sales and returns


def _sale_key(sale_no: str, line_no: int, batch_id: int | None) -> str:
    return f"sale:{sale_no}:{line_no}:{'none' if batch_id is None else batch_id}"


async def _line_moves(sale_no: str, line_no: int) -> list[dict]:
    """The sale and return moves of one sale line (found by the sale number in `ref`)."""
    rows = await fetch(
        "SELECT m.id, m.batch, m.product, m.qty, m.kind, m.key, b.batch_no, b.expiry"
        " FROM stock_move m LEFT JOIN stock_batch b ON b.id = m.batch"
        " WHERE m.ref = {} AND m.kind IN ('sale', 'return') ORDER BY b.expiry, m.batch, m.id",
        sale_no,
    )
    sale_prefix = f"sale:{sale_no}:{line_no}:"
    # Return keys are return:{return_no}:{line_no}:{batch}; the line number is the second field from the end.
    return [
        r
        for r in rows
        if r["key"].startswith(sale_prefix) or (r["kind"] == "return" and r["key"].rsplit(":", 2)[1] == str(line_no))
    ]


async def _lock_store(store_id: int) -> None:
    """On PostgreSQL, serialise the sales and returns of one store until the transaction ends.

    A sale of products A then B and a concurrent one of B then A (or a two-line return) would each hold one
    product's batch rows and wait for the other's: a deadlock. Taking this lock first gives every transaction the
    same order. Receipts, counts and status changes touch a single batch and need not take it. On SQLite the
    IMMEDIATE transaction already serialises writers.
    """
    if not is_sqlite():
        await fetch("SELECT pg_advisory_xact_lock({}, {})", STORE_LOCK_CLASS, store_id)


async def lock_store(store_id: int) -> None:
    """`_lock_store` for another domain's transaction that will move this store's stock (a return takes it before
    it reads what earlier refunds paid out, so two refunds of one sale at once are split one after the other)."""
    await _lock_store(store_id)


async def _product_label(product_id: int) -> str:
    rows = await fetch("SELECT name_zh, name_en, sku FROM product WHERE id = {}", product_id)
    return _product_name(rows[0]) if rows else str(product_id)


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
    await _lock_store(store_id)
    # Lock every batch of the product in this store (PostgreSQL) so a concurrent sale waits and then sees what is
    # left; on SQLite the IMMEDIATE transaction already serialises writers.
    batches = await fetch(
        "SELECT id, batch_no, expiry, status, on_hand FROM stock_batch WHERE store = {} AND product = {}"
        " ORDER BY expiry, id" + ("" if is_sqlite() else " FOR UPDATE"),
        store_id,
        product_id,
    )
    keys = [_sale_key(sale_no, line_no, b["id"]) for b in batches] + [_sale_key(sale_no, line_no, None)]
    existing = await fetch(
        "SELECT m.batch, m.qty, b.batch_no, b.expiry FROM stock_move m LEFT JOIN stock_batch b ON b.id = m.batch"
        f" WHERE m.key IN ({', '.join('{}' for _ in keys)}) ORDER BY b.expiry IS NULL, b.expiry, m.batch",
        *keys,
    )
    if existing:
        return [Allocation(r["batch"], r["batch_no"], _as_date(r["expiry"]), -r["qty"]) for r in existing]
    today = store_today()
    plan: list[tuple[dict | None, int]] = []
    remaining = qty
    for batch in batches:
        if remaining == 0:
            break
        if batch["status"] != AVAILABLE or _as_date(batch["expiry"]) < today or batch["on_hand"] <= 0:
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
            updated = await fetch(
                "UPDATE stock_batch SET on_hand = on_hand - {} WHERE id = {} AND on_hand >= {} RETURNING on_hand",
                take,
                batch_id,
                take,
            )
            if not updated:
                raise OutOfStock(product_id, await _product_label(product_id), qty, 0)
        inserted = await fetch(
            "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
            " VALUES ({}, {}, {}, {}, 'sale', {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
            batch_id,
            store_id,
            product_id,
            -take,
            sale_no,
            _sale_key(sale_no, line_no, batch_id),
            actor.id,
            now,
        )
        if not inserted:
            # A concurrent call for the same line got there first; undo this one's decrement by failing the
            # transaction rather than leaving the cache out of step with the ledger.
            raise ValidationFailed({"qty": _("This sale line is already being recorded; try again.")})
        allocations.append(
            Allocation(
                batch_id, batch["batch_no"] if batch else None, _as_date(batch["expiry"]) if batch else None, take
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
    await _lock_store(store_id)
    product_ids = sorted({line[1] for line in lines})
    batches = await fetch(
        "SELECT id, product, batch_no, expiry, status, on_hand FROM stock_batch WHERE store = {}"
        f" AND product IN ({', '.join('{}' for _ in product_ids)}) ORDER BY product, expiry, id"
        + ("" if is_sqlite() else " FOR UPDATE"),
        store_id,
        *product_ids,
    )
    by_product: dict[int, list[dict]] = {}
    for batch in batches:
        by_product.setdefault(batch["product"], []).append(batch)
    keys = [_sale_key(sale_no, line[0], b["id"]) for line in lines for b in by_product.get(line[1], [])]
    keys += [_sale_key(sale_no, line[0], None) for line in lines]
    existing = (
        []
        if new_sale
        else await fetch(
            "SELECT m.key, m.batch, m.qty, b.batch_no, b.expiry FROM stock_move m"
            " LEFT JOIN stock_batch b ON b.id = m.batch"
            f" WHERE m.key IN ({', '.join('{}' for _ in keys)}) ORDER BY b.expiry IS NULL, b.expiry, m.batch",
            *keys,
        )
    )
    done: dict[int, list[Allocation]] = {}
    for r in existing:
        line_no = int(r["key"].split(":")[2])
        done.setdefault(line_no, []).append(Allocation(r["batch"], r["batch_no"], _as_date(r["expiry"]), -r["qty"]))
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
            if batch["status"] != AVAILABLE or _as_date(batch["expiry"]) < today or left[batch["id"]] <= 0:
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
        values = ", ".join("(CAST({} AS INTEGER), CAST({} AS INTEGER))" for _ in takes)
        updated = await fetch(
            f"WITH t (id, take) AS (VALUES {values}) UPDATE stock_batch"
            " SET on_hand = on_hand - (SELECT t.take FROM t WHERE t.id = stock_batch.id)"
            " WHERE id IN (SELECT t.id FROM t) AND on_hand >= (SELECT t.take FROM t WHERE t.id = stock_batch.id)"
            " RETURNING id",
            *[x for pair in takes.items() for x in pair],
        )
        short = set(takes) - {r["id"] for r in updated}
        if short:
            product_id = next(b["product"] for b in batches if b["id"] in short)
            qty = sum(move[3] for move in moves if move[1] == product_id)
            raise OutOfStock(product_id, await _product_label(product_id), qty, 0)
    if moves:
        now = datetime.now(UTC)
        args: list = []
        for line_no, product_id, batch, take in moves:
            batch_id = batch["id"] if batch else None
            key = _sale_key(sale_no, line_no, batch_id)
            args += [batch_id, store_id, product_id, -take, sale_no, key, actor.id, now]
        inserted = await fetch(
            "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at) VALUES "
            + ", ".join("({}, {}, {}, {}, 'sale', {}, {}, {}, {})" for _ in moves)
            + " ON CONFLICT (key) DO NOTHING RETURNING id",
            *args,
        )
        if len(inserted) != len(moves):
            # A concurrent call for the same line got there first; undo this one's decrements by failing the
            # transaction rather than leaving the cache out of step with the ledger.
            raise ValidationFailed({"qty": _("This sale line is already being recorded; try again.")})
    for line_no, _product, batch, take in moves:
        done.setdefault(line_no, []).append(
            Allocation(
                batch["id"] if batch else None,
                batch["batch_no"] if batch else None,
                _as_date(batch["expiry"]) if batch else None,
                take,
            )
        )
    return done


async def quarantine_return(
    store_id: int,
    sale_no: str,
    line_no: int,
    qty: int,
    return_no: str,
    actor: StaffUser,
    restricted: bool = False,
) -> list[int]:
    """Take `qty` returned units of a sale line back into quarantine (call inside `transaction()`); return the ids of
    the returned packs held.

    The units come back into the batches the line took them from (first expiry first, never more into a batch
    than the line took from it less earlier returns; a shortfall the line sold without stock against no batch):
    a "return" move per batch, then at once a "quarantine" move out of it, so the batch's sellable stock does not
    change and the units wait in a `returned_pack` row for a manager to release or write them off. `restricted`
    (dispensed Rx, antibiotic, cold chain) packs can only be written off. A retry with the same return_no and line
    moves nothing. The moves carry the sale number in `ref` (the return number is in the key) so a line's moves
    are found together.
    """
    if qty <= 0:
        return []
    await _lock_store(store_id)
    moves = await _line_moves(sale_no, line_no)
    if any(m["kind"] == "return" and m["key"].startswith(f"return:{return_no}:{line_no}:") for m in moves):
        rows = await fetch("SELECT id FROM returned_pack WHERE key LIKE {} ORDER BY id", f"{return_no}:{line_no}:%")
        return [r["id"] for r in rows]
    open_qty: dict[int | None, int] = {}
    product_id = None
    for m in moves:
        if m["kind"] == "sale":
            open_qty[m["batch"]] = open_qty.get(m["batch"], 0) - m["qty"]
            product_id = m["product"]
    for m in moves:
        if m["kind"] == "return":
            open_qty[m["batch"]] = open_qty.get(m["batch"], 0) - m["qty"]
    if product_id is None:
        raise NotFound(_("Sale %(sale)s line %(line)s took nothing from stock.") % {"sale": sale_no, "line": line_no})
    if qty > sum(open_qty.values()):
        raise ValidationFailed(
            {"qty": _("At most %(n)s of this line can still be returned.") % {"n": sum(open_qty.values())}}
        )
    now = datetime.now(UTC)
    remaining = qty
    held: list[int] = []
    # Batches in the order the sale took them; the shortfall (no batch) last.
    for batch_id in [b for b in open_qty if b is not None] + ([None] if None in open_qty else []):
        put = min(remaining, open_qty[batch_id])
        if put <= 0:
            continue
        suffix = f"{return_no}:{line_no}:{'none' if batch_id is None else batch_id}"
        # In and straight out again: the batch's on_hand (the sum of its moves) is unchanged.
        await fetch(
            "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
            " VALUES ({}, {}, {}, {}, 'return', {}, {}, {}, {}), ({}, {}, {}, {}, 'quarantine', {}, {}, {}, {})"
            " ON CONFLICT (key) DO NOTHING",
            *(batch_id, store_id, product_id, put, sale_no, f"return:{suffix}", actor.id, now),
            *(batch_id, store_id, product_id, -put, sale_no, f"quarantine:{suffix}", actor.id, now),
        )
        pack = await fetch(
            "INSERT INTO returned_pack (key, store, product, batch, sale_no, return_no, line_no, qty, restricted,"
            " status, staff, created_at, decided_by, decided_at, decision_reason)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, '')"
            " ON CONFLICT (key) DO NOTHING RETURNING id",
            suffix,
            store_id,
            product_id,
            batch_id,
            sale_no,
            return_no,
            line_no,
            put,
            restricted,
            HELD,
            actor.id,
            now,
        )
        held += [r["id"] for r in pack]
        remaining -= put
        if remaining == 0:
            break
    return held


async def sellable(store_id: int, product_ids: list[int] | tuple[int, ...] | set[int]) -> dict[int, int]:
    """Units of each product that may be sold now in the store (available, unexpired batches); 0 when none."""
    ids = list(product_ids)
    if not ids:
        return {}
    rows = await fetch(
        "SELECT product, SUM(on_hand) AS qty FROM stock_batch WHERE store = {} AND status = {} AND expiry >= {}"
        f" AND on_hand > 0 AND product IN ({', '.join('{}' for _ in ids)}) GROUP BY product",
        store_id,
        AVAILABLE,
        store_today(),
        *ids,
    )
    found = {r["product"]: int(r["qty"]) for r in rows}
    return {pid: found.get(pid, 0) for pid in ids}


# ---------------------------------------------------------------- status, counts, views


async def set_batch_status(batch_id: int, status: str, reason: str, actor: StaffUser) -> BatchView:
    """Quarantine, recall or release a batch, with a reason (audited). A recalled batch stays recalled; an expired
    one is never released.

    A store's staff may change only their own store's batches (others are NotFound).
    """
    errors = {}
    if status not in STATUSES:
        errors["status"] = _("Choose available, quarantined or recalled.")
    if not (reason or "").strip():
        errors["reason"] = _("Say why the batch status changes.")
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        view = await get_batch(batch_id, actor.store_id)
        if view.status == status:
            return view
        if view.status == RECALLED:
            raise ValidationFailed({"status": _("A recalled batch stays recalled.")})
        if status == AVAILABLE and view.expired:
            raise ValidationFailed({"status": _("An expired batch cannot be released: write it off instead.")})
        await fetch("UPDATE stock_batch SET status = {} WHERE id = {}", status, batch_id)
        await audit.record(
            actor,
            STATUS_ACTION,
            None,
            f"{view.store_code} {view.sku} batch {view.batch_no} (#{view.id}): {view.status} → {status}; "
            f"{reason.strip()}"[:500],
        )
        return await get_batch(batch_id)


async def adjust(batch_id: int, counted: int | str, reason: str, actor: StaffUser, key: str = "") -> BatchView:
    """Correct a batch to a physical count: one "adjust" move of the difference, with a reason (audited).

    Idempotent by `key` (a fresh one when empty).
    """
    errors = {}
    count = _parse_qty(counted)
    if count is None or count < 0:
        errors["counted"] = _("Enter the counted quantity (a whole number, zero or more).")
    elif count > MAX_QTY:
        errors["counted"] = _("At most %(n)s packs per receipt.") % {"n": MAX_QTY}
    if not (reason or "").strip():
        errors["reason"] = _("Say why the count differs.")
    if len(key or "") > MAX_KEY:
        errors["key"] = _("The idempotency key has at most %(n)s characters.") % {"n": MAX_KEY}
    if errors:
        raise ValidationFailed(errors)
    assert count is not None
    move_key = f"adjust:{key or uuid.uuid4().hex}"
    async with transaction():
        view = await get_batch(batch_id, actor.store_id)
        if await fetch("SELECT id FROM stock_move WHERE key = {}", move_key):
            return view
        delta = count - view.on_hand
        if delta == 0:
            return view
        await _move(view, delta, "adjust", reason, move_key, actor, ADJUST_ACTION, f"{view.on_hand} → {count}")
        return await get_batch(batch_id)


async def _move(
    view: BatchView, qty: int, kind: str, reason: str, move_key: str, actor: StaffUser, action: str, change: str
) -> None:
    """One move of `qty` into (negative: out of) a batch, its cached on_hand with it, and the audit event that says
    why (call inside `transaction()`)."""
    await fetch(
        "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        view.id,
        view.store_id,
        view.product_id,
        qty,
        kind,
        reason.strip()[:40],
        move_key,
        actor.id,
        datetime.now(UTC),
    )
    await fetch("UPDATE stock_batch SET on_hand = on_hand + {} WHERE id = {}", qty, view.id)
    await audit.record(
        actor,
        action,
        None,
        f"{view.store_code} {view.sku} batch {view.batch_no} (#{view.id}): {change}; {reason.strip()}"[:500],
    )


async def write_off(batch_id: int, reason: str, actor: StaffUser, key: str = "") -> BatchView:
    """Take everything left of a batch that may not be sold (expired, quarantined or recalled) out of stock: one
    "write_off" move of minus what is on hand, with a reason (audited). A sellable batch is refused (quarantine
    it or correct the count instead). Idempotent by `key` (a fresh one when empty): a double tap writes off once.
    """
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = _("Say why the stock is written off.")
    if len(key or "") > MAX_KEY:
        errors["key"] = _("The idempotency key has at most %(n)s characters.") % {"n": MAX_KEY}
    if errors:
        raise ValidationFailed(errors)
    move_key = f"write_off:{key or uuid.uuid4().hex}"
    async with transaction():
        view = await get_batch(batch_id, actor.store_id)
        if await fetch("SELECT id FROM stock_move WHERE key = {}", move_key):
            return view
        # Lock the batch row (PostgreSQL) so a sale or a second write-off waits and then sees what is left.
        if not is_sqlite():
            await fetch("SELECT id FROM stock_batch WHERE id = {} FOR UPDATE", batch_id)
            view = await get_batch(batch_id)
        if view.state == AVAILABLE:
            raise ValidationFailed(
                {"reason": _("This batch may still be sold: quarantine it first, or correct the count.")}
            )
        if view.on_hand <= 0:
            raise ValidationFailed({"reason": _("Nothing of this batch is left to write off.")})
        change = f"{view.state}, {view.on_hand} written off"
        await _move(view, -view.on_hand, "write_off", reason, move_key, actor, WRITE_OFF_ACTION, change)
        return await get_batch(batch_id)


async def store_stock(store_id: int, q: str = "", page: int = 1, per_page: int = PER_PAGE) -> StockPage:
    """Per product in a store: sellable units, units held back (quarantined, recalled or expired), the nearest
    sellable expiry and the number of batches; filtered by SKU or name, by SKU, one page at a time."""
    page = max(1, page)
    today = store_today()
    args: list = [AVAILABLE, today, AVAILABLE, today, AVAILABLE, today, store_id]
    where = ""
    text = (q or "").strip()
    if text:
        # LOWER on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's is not.
        where = " AND (LOWER(p.sku) LIKE {} OR p.name_zh LIKE {} OR LOWER(p.name_en) LIKE {})"
        like = "%" + text.replace("%", "").replace("_", "") + "%"
        args += [like.lower(), like, like.lower()]
    rows = await fetch(
        "SELECT p.id, p.sku, p.name_zh, p.name_en,"
        " SUM(CASE WHEN b.status = {} AND b.expiry >= {} THEN b.on_hand ELSE 0 END) AS sellable,"
        " SUM(CASE WHEN b.status = {} AND b.expiry >= {} THEN 0 ELSE b.on_hand END) AS blocked,"
        " MIN(CASE WHEN b.status = {} AND b.expiry >= {} AND b.on_hand > 0 THEN b.expiry END) AS nearest_expiry,"
        " COUNT(*) AS batches"
        " FROM stock_batch b JOIN product p ON p.id = b.product"
        f" WHERE b.store = {{}}{where}"
        f" GROUP BY p.id, p.sku, p.name_zh, p.name_en ORDER BY p.sku LIMIT {per_page + 1}"
        f" OFFSET {(page - 1) * per_page}",
        *args,
    )
    items = [
        ProductStock(
            product_id=r["id"],
            sku=r["sku"],
            name=_product_name(r),
            sellable=int(r["sellable"] or 0),
            blocked=int(r["blocked"] or 0),
            nearest_expiry=_as_date(r["nearest_expiry"]),
            batches=int(r["batches"]),
        )
        for r in rows[:per_page]
    ]
    return StockPage(items, page, per_page, len(rows) > per_page, text, store_id)


async def expiring(store_id: int | None, within_days: int = 90) -> list[BatchView]:
    """Batches with stock that expire within `within_days` of the store date (already expired ones too),
    first expiry first; every store when `store_id` is None. Recalled batches are left out; at most 500 rows."""
    horizon = store_today() + timedelta(days=max(0, within_days))
    args: list = [horizon, RECALLED]
    where = ""
    if store_id is not None:
        where = " AND b.store = {}"
        args.append(store_id)
    rows = await fetch(
        _BATCH_SQL
        + " WHERE b.on_hand > 0 AND b.expiry <= {} AND b.status <> {}"
        + where
        + " ORDER BY b.expiry, st.code, p.sku LIMIT 500",
        *args,
    )
    return [_batch_view(r) for r in rows]


# ---------------------------------------------------------------- returned packs in quarantine


@dataclass(frozen=True)
class ReturnedPackView:
    """Units of one batch a customer brought back, with what became of them."""

    id: int
    store_id: int
    store_code: str
    product_id: int
    sku: str
    product_name: str
    batch_id: int | None
    batch_no: str | None
    expiry: date | None
    batch_status: str | None
    sale_no: str
    return_no: str
    line_no: int
    qty: int
    restricted: bool
    status: str
    staff_name: str | None
    created_at: datetime | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_reason: str

    @property
    def release_refusal(self) -> str:
        """Why the pack cannot be released to sellable stock ("" when it can)."""
        if self.restricted:
            return _("Dispensed prescription, antibiotic and cold-chain medicines are not resold: write it off.")
        if self.batch_id is None:
            return _("It was sold beyond recorded stock, so it has no batch to go back to: write it off.")
        if self.batch_status == RECALLED:
            return _("Its batch is recalled: write it off.")
        if self.expiry is not None and self.expiry < store_today():
            return _("Its batch has expired: write it off.")
        return ""


_PACK_SQL = (
    "SELECT rp.id, rp.store AS store_id, st.code AS store_code, rp.product AS product_id, p.sku, p.name_zh,"
    " p.name_en, rp.batch AS batch_id, b.batch_no, b.expiry, b.status AS batch_status, rp.sale_no, rp.return_no,"
    " rp.line_no, rp.qty, rp.restricted, rp.status, sf.display_name AS staff_name, rp.created_at,"
    " db.display_name AS decided_by_name, rp.decided_at, rp.decision_reason"
    " FROM returned_pack rp JOIN store st ON st.id = rp.store JOIN product p ON p.id = rp.product"
    " LEFT JOIN stock_batch b ON b.id = rp.batch LEFT JOIN staff sf ON sf.id = rp.staff"
    " LEFT JOIN staff db ON db.id = rp.decided_by"
)


def _pack_view(row: dict) -> ReturnedPackView:
    # _PACK_SQL names its columns after the view's fields; these four need converting.
    values = {f.name: row.get(f.name) for f in fields(ReturnedPackView)}
    return ReturnedPackView(
        **{
            **values,
            "product_name": _product_name(row),
            "expiry": _as_date(row["expiry"]),
            "restricted": bool(row["restricted"]),
            "decision_reason": row["decision_reason"] or "",
        }
    )


def pack_status_label(status: str) -> str:
    """A returned pack's status in the current language."""
    return {
        HELD: _("In quarantine"),
        RELEASED: _("Released to stock"),
        WRITTEN_OFF: _("Written off"),
    }.get(status, status)


async def returned_packs(store_id: int, held: bool = True, limit: int = 100) -> list[ReturnedPackView]:
    """A store's returned packs: those still in quarantine (oldest first), or those decided (newest first)."""
    order = "rp.created_at, rp.id" if held else "rp.decided_at DESC, rp.id DESC"
    rows = await fetch(
        _PACK_SQL
        + (" WHERE rp.store = {} AND rp.status = {}" if held else " WHERE rp.store = {} AND rp.status <> {}")
        + f" ORDER BY {order} LIMIT {max(1, min(int(limit), 500))}",
        store_id,
        HELD,
    )
    return [_pack_view(r) for r in rows]


async def returned_pack(pack_id: int, store_id: int | None = None) -> ReturnedPackView:
    """One returned pack; NotFound when unknown or (with `store_id`) another store's."""
    rows = await fetch(_PACK_SQL + " WHERE rp.id = {}", pack_id)
    if not rows or (store_id is not None and rows[0]["store_id"] != store_id):
        raise NotFound(_("No returned pack %(id)s in this store.") % {"id": pack_id})
    return _pack_view(rows[0])


async def _decide(pack_id: int, status: str, reason: str, actor: StaffUser) -> tuple[ReturnedPackView, bool]:
    """Mark a held pack released or written off (inside the caller's transaction); (the pack, whether this call
    decided it). A pack already decided is returned as it is: a double tap decides once."""
    if not (reason or "").strip():
        raise ValidationFailed({"reason": _("Say why (for the audit trail).")})
    pack = await returned_pack(pack_id, actor.store_id)
    if pack.status != HELD:
        return pack, False
    if status == RELEASED and pack.release_refusal:
        raise ValidationFailed({"reason": pack.release_refusal})
    # Conditional: of two managers deciding the same pack at once, one wins.
    updated = await fetch(
        "UPDATE returned_pack SET status = {}, decided_by = {}, decided_at = {}, decision_reason = {}"
        " WHERE id = {} AND status = {} RETURNING id",
        status,
        actor.id,
        datetime.now(UTC),
        reason.strip()[:500],
        pack_id,
        HELD,
    )
    return pack, bool(updated)


async def release_returned(pack_id: int, reason: str, actor: StaffUser) -> ReturnedPackView:
    """Put a returned pack back into its batch's stock (a "release" move), with a reason (audited).

    Refused (ValidationFailed on "reason") for restricted medicines, packs without a batch and recalled or expired
    batches: those can only be written off. A store's staff decide only their own store's packs (else NotFound).
    """
    async with transaction():
        pack, decided = await _decide(pack_id, RELEASED, reason, actor)
        if decided:
            inserted = await fetch(
                "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
                " VALUES ({}, {}, {}, {}, 'release', {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
                pack.batch_id,
                pack.store_id,
                pack.product_id,
                pack.qty,
                pack.return_no,
                f"release:{pack.id}",
                actor.id,
                datetime.now(UTC),
            )
            if inserted:
                await fetch("UPDATE stock_batch SET on_hand = on_hand + {} WHERE id = {}", pack.qty, pack.batch_id)
            await audit.record(actor, RELEASE_ACTION, None, _pack_detail(pack, reason))
        return await returned_pack(pack_id)


async def write_off_returned(pack_id: int, reason: str, actor: StaffUser) -> ReturnedPackView:
    """Write a returned pack off (it never goes back to stock: the quarantine move already took it out), with a
    reason (audited). A store's staff decide only their own store's packs (else NotFound)."""
    async with transaction():
        pack, decided = await _decide(pack_id, WRITTEN_OFF, reason, actor)
        if decided:
            await audit.record(actor, RETURNED_WRITE_OFF_ACTION, None, _pack_detail(pack, reason))
        return await returned_pack(pack_id)


def _pack_detail(pack: ReturnedPackView, reason: str) -> str:
    batch = pack.batch_no or "—"
    return (
        f"{pack.store_code} {pack.sku} batch {batch} ×{pack.qty} from {pack.return_no} ({pack.sale_no}, pack "
        f"#{pack.id}); {reason.strip()}"
    )[:500]


# ---------------------------------------------------------------- demo data


async def seed_demo_stock() -> int:
    """Stock every active product in every store: 2–3 batches with different expiries, plus one expired and one
    quarantined batch in the first store for demos. Set-based and idempotent; returns the batches created."""
    today = store_today()
    now = datetime.now(UTC)
    early = [today + timedelta(days=d) for d in (45, 75, 120, 160)]
    late = today + timedelta(days=540)
    short = today + timedelta(days=20)
    at_sql = _typed("TIMESTAMPTZ")
    async with transaction():
        before = (await fetch("SELECT COUNT(*) AS n FROM stock_batch"))[0]["n"]
        # Deterministic batch numbers: D + the product id + A/B/C, so a second run conflicts and inserts nothing.
        for suffix, expiry_sql, qty_sql, only in (
            ("A", "CASE p.id % 4 WHEN 0 THEN {d} WHEN 1 THEN {d} WHEN 2 THEN {d} ELSE {d} END", "10 + p.id % 20", ""),
            ("B", "{d}", "30 + p.id % 25", ""),
            ("C", "{d}", "3 + p.id % 5", " AND p.id % 3 = 0"),
        ):
            expiry_sql = expiry_sql.replace("{d}", _typed("DATE"))
            dates = early if suffix == "A" else [late] if suffix == "B" else [short]
            await fetch(
                "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
                f" SELECT s.id, p.id, 'D' || p.id || '{suffix}', {expiry_sql}, 'available', {qty_sql}, {at_sql}"
                f" FROM store s CROSS JOIN product p WHERE s.active = {{}} AND p.active = {{}}{only}"
                " ON CONFLICT (store, product, batch_no) DO NOTHING",
                *dates,
                now,
                True,
                True,
            )
        first_store = await fetch("SELECT id FROM store WHERE active = {} ORDER BY code LIMIT 1", True)
        demo_products = await fetch("SELECT id FROM product WHERE active = {} ORDER BY sku LIMIT 2", True)
        if first_store and len(demo_products) == 2:
            store_id = first_store[0]["id"]
            for product, batch_no, expiry, status in (
                (demo_products[0]["id"], "DEMO-EXPIRED", today - timedelta(days=10), AVAILABLE),
                (demo_products[1]["id"], "DEMO-QUARANTINE", today + timedelta(days=200), QUARANTINED),
            ):
                await fetch(
                    "INSERT INTO stock_batch (store, product, batch_no, expiry, status, on_hand, received_at)"
                    " VALUES ({}, {}, {}, {}, {}, 6, {}) ON CONFLICT (store, product, batch_no) DO NOTHING",
                    store_id,
                    product,
                    batch_no,
                    expiry,
                    status,
                    now,
                )
        # The ledger rows that explain the seeded quantities (one per batch still without its seed move).
        await fetch(
            "INSERT INTO stock_move (batch, store, product, qty, kind, ref, key, staff, at)"
            f" SELECT b.id, b.store, b.product, b.on_hand, 'receipt', 'demo', 'seed:' || b.id, NULL, {at_sql}"
            " FROM stock_batch b WHERE (b.batch_no LIKE 'D%' OR b.batch_no LIKE 'DEMO-%')"
            " AND NOT EXISTS (SELECT 1 FROM stock_move m WHERE m.batch = b.id)"
            " ON CONFLICT (key) DO NOTHING",
            now,
        )
        after = (await fetch("SELECT COUNT(*) AS n FROM stock_batch"))[0]["n"]
    return int(after) - int(before)


async def stores() -> list[dict]:
    """Active stores (id, code, name) for HQ to pick from."""
    return await fetch("SELECT id, code, name FROM store WHERE active = {} ORDER BY code", True)
