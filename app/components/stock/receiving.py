"""Receiving a delivery (GSP): every field checked at once, a GS1 carton scan filling batch and expiry, no expired
or recalled stock taken in, and a receipt key that makes a replay add nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.components import catalog, scanning
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.stock import queries
from app.components.stock.batches import AVAILABLE, RECALLED, BatchView, get_batch
from app.components.stock.ledger import MAX_KEY, MAX_QTY, parse_qty
from app.db import as_date, transaction
from app.i18n import _

BATCH_NO_MAX = 20
# The longest shelf life a received batch may claim (medicines keep 2–5 years).
MAX_SHELF_YEARS = 10


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
class _CheckedReceipt:
    store_id: int
    product_id: int
    batch_no: str
    expiry: date
    qty: int
    key: str


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


async def _check_receipt(data: Receipt, actor: StaffUser) -> _CheckedReceipt:
    """Validate every field at once so the form can show all messages together."""
    errors: dict[str, str] = {}
    store = await queries.store_by_code((data.store_code or "").strip()) if (data.store_code or "").strip() else None
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
    qty = parse_qty(data.qty)
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
    row = await queries.move_by_key(move_key)
    if row is None:
        return None
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
        await queries.insert_batch(
            checked.store_id, checked.product_id, checked.batch_no, checked.expiry, AVAILABLE, now
        )
        batch = await queries.batch_by_number(checked.store_id, checked.product_id, checked.batch_no)
        if as_date(batch["expiry"]) != checked.expiry:
            raise ValidationFailed(
                {
                    "expiry": _("Batch %(batch)s of this product is recorded with expiry %(date)s: check the carton.")
                    % {"batch": checked.batch_no, "date": as_date(batch["expiry"])}
                }
            )
        if batch["status"] == RECALLED:
            raise ValidationFailed(
                {"batch": _("Batch %(batch)s is recalled and cannot be received.") % {"batch": checked.batch_no}}
            )
        inserted = await queries.insert_move_once(
            batch["id"],
            checked.store_id,
            checked.product_id,
            checked.qty,
            "receipt",
            checked.key[:40],
            move_key,
            actor.id,
            now,
        )
        if not inserted:  # the same key committed by a concurrent request while this one waited
            found = await _replay(move_key, checked)
            assert found is not None
            return found
        await queries.add_on_hand(batch["id"], checked.qty)
        return await get_batch(batch["id"])
