"""Lines of the counter cart: a product scanned (with its GS1 or traceability code), quantities, removal, discounts.

A pharmacist's verification or override covers the products they saw: a product added after it needs their look
again; a manager's approval to sell beyond stock was for the exact quantities, so any line change drops it."""

from __future__ import annotations

from dataclasses import replace

from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.sales.cart import VERIFICATION, CartLine, CartView, mutate, need_line
from app.components.scanning import Scan
from app.i18n import _

MAX_QTY = 999


def _codes_of(scan: Scan | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a scan adds to a line: the GS1 element string (batch/serial/expiry) or the traceability code."""
    if scan is None:
        return (), ()
    if scan.kind == "traceability" and scan.traceability_code:
        return (), (scan.traceability_code,)
    if scan.kind == "gs1" and (scan.batch or scan.serial):
        parts = [f"(01){scan.gtin}"]
        if scan.expiry:
            parts.append(f"(17){scan.expiry:%y%m%d}")
        if scan.batch:
            parts.append(f"(10){scan.batch}")
        if scan.serial:
            parts.append(f"(21){scan.serial}")
        return ("".join(parts),), ()
    return (), ()


def _with_line(cart: CartView, new: CartLine | None, product_id: int) -> CartView:
    lines = [line for line in cart.lines if line.product_id != product_id]
    if new is not None:
        index = next((i for i, line in enumerate(cart.lines) if line.product_id == product_id), len(cart.lines))
        lines.insert(index, new)
    # A pharmacist's verification or allergy override covers the products they saw: a product added after it
    # (a cross-reacting antibiotic scanned later, say) needs their look again; a quantity change or removal does not.
    ids = {line.product_id for line in lines}
    prescription = cart.prescription
    if not ids <= set(prescription.get("products", ())):
        prescription = {k: v for k, v in prescription.items() if k not in VERIFICATION}
    override = cart.override if ids <= set(cart.override.get("products", ())) else {}
    # A manager's approval to sell beyond stock was for these exact quantities: any change needs it again.
    override = {k: v for k, v in override.items() if k not in ("oversell", "acks")}
    # An acknowledged warning belongs to its line: it stays while the line does.
    acks = [a for a in cart.acknowledgements if a.get("product_id") in ids]
    if acks:
        override["acks"] = acks
    return replace(cart, lines=tuple(lines), prescription=prescription, override=override)


async def add_product(actor: StaffUser, product_id: int, scan: Scan | None = None, key: str | None = None) -> CartView:
    """Add one unit of a product (same product again: qty + 1); a traceability code scanned twice counts once."""
    codes, trace = _codes_of(scan)

    def change(cart: CartView) -> CartView:
        line = cart.line(product_id)
        if line is None:
            return _with_line(cart, CartLine(product_id=product_id, codes=codes, trace_codes=trace), product_id)
        if trace and trace[0] in line.trace_codes:
            return cart  # the same unit scanned again
        new = replace(
            line,
            qty=min(line.qty + 1, MAX_QTY),
            codes=line.codes + tuple(c for c in codes if c not in line.codes),
            trace_codes=line.trace_codes + trace,
        )
        return _with_line(cart, new, product_id)

    return await mutate(actor, change, key=key, action="add")


async def set_qty(actor: StaffUser, product_id: int, qty: int, key: str | None = None) -> CartView:
    """Set a line's quantity (1–999); 0 removes the line."""
    if qty < 0 or qty > MAX_QTY:
        raise ValidationFailed({"qty": _("Quantity must be between 1 and %(max)s.") % {"max": MAX_QTY}})

    def change(cart: CartView) -> CartView:
        line = need_line(cart, product_id)
        if qty == 0:
            return _with_line(cart, None, product_id)
        # Traceability codes are per unit: keep no more of them than units sold.
        return _with_line(cart, replace(line, qty=qty, trace_codes=line.trace_codes[:qty]), product_id)

    return await mutate(actor, change, key=key, action="qty")


async def change_qty(actor: StaffUser, product_id: int, delta: int, key: str | None = None) -> CartView:
    """The +/− buttons: add `delta` to a line's quantity, never below 1."""

    def change(cart: CartView) -> CartView:
        line = need_line(cart, product_id)
        qty = max(1, min(MAX_QTY, line.qty + delta))
        return _with_line(cart, replace(line, qty=qty, trace_codes=line.trace_codes[:qty]), product_id)

    return await mutate(actor, change, key=key, action="qty")


async def remove_line(actor: StaffUser, product_id: int, key: str | None = None) -> CartView:
    """Take a product out of the cart."""
    return await mutate(
        actor,
        lambda cart: _with_line(cart, None, product_id) if cart.line(product_id) else cart,
        key=key,
        action="remove",
    )


async def set_line_discount(actor: StaffUser, product_id: int, discount_fen: int, key: str | None = None) -> CartView:
    """A line discount in fen (the route admits DISCOUNT_ROLES only; the sale checks it against the line)."""
    if discount_fen < 0:
        raise ValidationFailed({"line_discount": _("A discount cannot be negative.")})

    def change(cart: CartView) -> CartView:
        line = need_line(cart, product_id)
        return _with_line(cart, replace(line, line_discount=discount_fen), product_id)

    return await mutate(actor, change, key=key, action="discount")
