"""The counter cart: the sale one staff member is building on one counter tablet, kept in `cart` until checkout.

A cart is open (being built), parked (in the store's held-sales list until resumed or it expires), done (it became
a sale with its key), abandoned or expired. Every change may carry the key the counter sent with it: a change is
applied once per key (`cart_change`, written in the change's transaction), so a retried request changes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.components import catalog, coupons
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import devices
from app.components.sales import sale as sales
from app.components.scanning import Scan
from app.db import fetch, is_sqlite, transaction
from app.i18n import _
from app.settings import get_settings

MAX_QTY = 999
MAX_COUPONS = 10
MAX_HELD = 100  # held sales listed per store
# A change key as the counter makes it (32 hex digits) or any client's UUID: bounded, nothing else.
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TENDER_TEXT = 20  # the longest typed amount kept with the cart


@dataclass(frozen=True)
class CartLine:
    """One product in the cart; `codes` are GS1 batch/serial scans, `trace_codes` 20-digit traceability codes."""

    product_id: int
    qty: int = 1
    line_discount: int = 0
    codes: tuple[str, ...] = ()
    trace_codes: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {
            "product_id": self.product_id,
            "qty": self.qty,
            "line_discount": self.line_discount,
            "codes": list(self.codes),
            "trace_codes": list(self.trace_codes),
        }


@dataclass(frozen=True)
class CartView:
    """A cart of one staff member on one tablet of their store.

    `override` holds the approvals given on it: the allergy override (reason, by, at, products seen), "oversell"
    (a store manager's) and "acks" (allergy warnings acknowledged: product_id, allergen_class, by, at). `tender` is
    what was tapped and typed for payment ({"kind", "amount", "points_amount"}), kept with the cart so that no
    change of the cart resets it. `pending_member_id` is another customer's card, scanned while this cart holds
    its member's lines: the counter asks whom the sale is for, and Pay waits for the answer.
    """

    id: int
    key: str
    store_id: int
    staff_id: int
    member_id: int | None
    member_no: str | None
    lines: tuple[CartLine, ...] = ()
    member_name: str = ""
    coupon_codes: tuple[str, ...] = ()
    prescription: dict = field(default_factory=dict)
    override: dict = field(default_factory=dict)
    status: str = "open"
    sale_id: int | None = None
    device_id: int | None = None
    tender: dict = field(default_factory=dict)
    pending_member_id: int | None = None
    pending_member_no: str | None = None
    pending_member_name: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def units(self) -> int:
        return sum(line.qty for line in self.lines)

    def line(self, product_id: int) -> CartLine | None:
        return next((line for line in self.lines if line.product_id == product_id), None)

    @property
    def acknowledgements(self) -> tuple[dict, ...]:
        """The allergy warnings acknowledged on this cart (one tap each: who, when, which line and allergy)."""
        return tuple(self.override.get("acks") or ())


@dataclass(frozen=True)
class HeldSale:
    """A parked cart in the store's held-sales list; `total` is at today's prices before coupons."""

    id: int
    key: str
    staff_name: str
    device_name: str
    member_no: str | None
    member_name: str
    lines: int
    units: int
    total: int
    coupons: int
    parked_at: datetime
    expires_at: datetime
    expired: bool
    names: tuple[str, ...] = ()


def _loads(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, (list, dict)):
        return value
    return json.loads(value)


def _lines_of(value: Any) -> tuple[CartLine, ...]:
    return tuple(
        CartLine(
            product_id=int(item["product_id"]),
            qty=int(item.get("qty", 1)),
            line_discount=int(item.get("line_discount", 0)),
            codes=tuple(item.get("codes") or ()),
            trace_codes=tuple(item.get("trace_codes") or ()),
        )
        for item in _loads(value, [])
    )


def _view(row: dict) -> CartView:
    return CartView(
        id=row["id"],
        key=row["key"],
        store_id=row["store"],
        staff_id=row["staff"],
        member_id=row["member"],
        member_no=row.get("member_no"),
        member_name=row.get("member_name") or "",
        lines=_lines_of(row["lines"]),
        coupon_codes=tuple(_loads(row["coupon_codes"], [])),
        prescription=_loads(row["prescription"], {}),
        override=_loads(row["override"], {}),
        status=row["status"],
        sale_id=row["sale"],
        device_id=row.get("device"),
        tender=_loads(row.get("tender"), {}),
        pending_member_id=row.get("pending_member"),
        pending_member_no=row.get("pending_member_no"),
        pending_member_name=row.get("pending_member_name") or "",
    )


_COLUMNS = (
    "c.id, c.key, c.store, c.staff, c.member, c.lines, c.coupon_codes, c.prescription, c.override, c.status, c.sale,"
    " c.device, c.tender, c.pending_member, m.member_no, m.name AS member_name, pm.member_no AS pending_member_no,"
    " pm.name AS pending_member_name"
)
_FROM = " FROM cart c LEFT JOIN member m ON m.id = c.member LEFT JOIN member pm ON pm.id = c.pending_member"
_CART_SQL = "SELECT " + _COLUMNS + _FROM
# The open cart and, in the same round trip, whether its key already made a sale (a checkout whose cart was never
# closed): `current`, `claim_member` and `_mutate` read both on every scan.
_OPEN_SQL = (
    "SELECT " + _COLUMNS + ", (SELECT s.id FROM sale s WHERE s.idempotency_key = c.key) AS sold" + _FROM + " WHERE"
    " c.staff = {} AND c.store = {} AND c.device = {} AND c.status = 'open' ORDER BY c.id DESC LIMIT 1"
)


def _store_of(actor: StaffUser) -> int:
    if actor.store_id is None:
        raise ValidationFailed({"store": _("Only staff of a store can sell at its counter.")})
    return actor.store_id


def _checked_key(key: str | None) -> str | None:
    """A change key as sent (None: the change is not keyed, e.g. a form posted without JavaScript)."""
    if key is None or key == "":
        return None
    if not _KEY_RE.fullmatch(key):
        raise ValidationFailed({"change_key": _("The request carried a malformed change key. Reload the counter.")})
    return key


async def _open_row(actor: StaffUser) -> dict | None:
    """The open cart's row on the actor's tablet, with `sold` (the id of the sale its key made, else None)."""
    rows = await fetch(_OPEN_SQL, actor.id, _store_of(actor), devices.require(actor))
    return rows[0] if rows else None


async def _create(actor: StaffUser, member_id: int | None = None) -> dict:
    now = datetime.now(UTC)
    await fetch(
        "INSERT INTO cart (key, store, staff, member, lines, coupon_codes, prescription, override, status, sale,"
        " created_at, updated_at, device, tender, pending_member, parked_at, expires_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'open', NULL, {}, {}, {}, {}, NULL, NULL, NULL)",
        uuid.uuid4().hex,
        _store_of(actor),
        actor.id,
        member_id,
        "[]",
        "[]",
        "{}",
        "{}",
        now,
        now,
        devices.require(actor),
        "{}",
    )
    row = await _open_row(actor)
    assert row is not None
    return row


async def current(actor: StaffUser) -> CartView:
    """The actor's open cart on their tablet, created when there is none."""
    row = await _open_row(actor)
    if row is not None and row["sold"] is None:
        return _view(row)
    return await _mutate(actor, lambda cart: cart)


async def sale_no_of(cart: CartView) -> str | None:
    """The number of the sale this cart's key made, if it made one (a replayed checkout shows that receipt)."""
    rows = await fetch("SELECT sale_no FROM sale WHERE idempotency_key = {}", cart.key)
    return rows[0]["sale_no"] if rows else None


async def _first_time(cart_id: int, key: str | None, action: str) -> bool:
    """Record that the change keyed `key` is being applied to the cart; False when it was applied before.

    The key is unique over all carts: a change retried after its cart became a sale is not applied to the next.
    """
    if key is None:
        return True
    rows = await fetch(
        "INSERT INTO cart_change (cart, key, action, created_at) VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING"
        " RETURNING id",
        cart_id,
        key,
        action,
        datetime.now(UTC),
    )
    return bool(rows)


@asynccontextmanager
async def _locked(actor: StaffUser, key: str | None = None, action: str = "") -> AsyncIterator[tuple[CartView, bool]]:
    """The open cart under the actor's write lock, and whether the keyed change is new (False: a replay)."""
    key = _checked_key(key)
    devices.require(actor)
    async with transaction(short=True):
        if not is_sqlite():
            # One writer per staff member: concurrent scans queue here instead of overwriting each other's lines.
            await fetch("SELECT id FROM staff WHERE id = {} FOR UPDATE", actor.id)
        row = await _open_row(actor)
        if row is not None and row["sold"] is not None:
            # The sale went through but the cart was never closed (a crash in between): close it now.
            await fetch("UPDATE cart SET status = 'done' WHERE id = {}", row["id"])
            row = None
        cart = _view(row or await _create(actor))
        yield cart, await _first_time(cart.id, key, action)


async def _write(cart: CartView) -> None:
    await fetch(
        "UPDATE cart SET member = {}, lines = {}, coupon_codes = {}, prescription = {}, override = {}, tender = {},"
        " pending_member = {}, updated_at = {} WHERE id = {}",
        cart.member_id,
        json.dumps([line.as_json() for line in cart.lines]),
        json.dumps(list(cart.coupon_codes)),
        json.dumps(cart.prescription, ensure_ascii=False),
        json.dumps(cart.override, ensure_ascii=False),
        json.dumps(cart.tender, ensure_ascii=False),
        cart.pending_member_id,
        datetime.now(UTC),
        cart.id,
    )


async def _named(after: CartView, before: CartView, member_no: str | None = None, member_name: str = "") -> CartView:
    """`after` with the number and name of its member and pending member, read only when they changed."""
    if after.member_id != before.member_id:
        if after.member_id is None:
            after = replace(after, member_no=None, member_name="")
        elif after.member_id == before.pending_member_id:
            after = replace(after, member_no=before.pending_member_no, member_name=before.pending_member_name)
        elif member_no is not None:
            after = replace(after, member_no=member_no, member_name=member_name)
        else:
            no, name = await _member_name(after.member_id)
            after = replace(after, member_no=no, member_name=name)
    if after.pending_member_id != before.pending_member_id:
        if after.pending_member_id is None:
            after = replace(after, pending_member_no=None, pending_member_name="")
        elif member_no is not None:
            after = replace(after, pending_member_no=member_no, pending_member_name=member_name)
        else:
            no, name = await _member_name(after.pending_member_id)
            after = replace(after, pending_member_no=no, pending_member_name=name)
    return after


async def _member_name(member_id: int) -> tuple[str | None, str]:
    rows = await fetch("SELECT member_no, name FROM member WHERE id = {}", member_id)
    return (rows[0]["member_no"], rows[0]["name"]) if rows else (None, "")


async def _mutate(
    actor: StaffUser,
    change: Any,
    member_no: str | None = None,
    member_name: str = "",
    key: str | None = None,
    action: str = "",
) -> CartView:
    """Apply `change(cart) -> cart` to the open cart under a lock, so back-to-back scans never lose a line; a change
    whose `key` was applied before is not applied again (the cart comes back as it is).

    `member_no` and `member_name` are those of the member `change` puts on the cart (or asks about), when the
    caller knows them (saves a read).
    """
    async with _locked(actor, key, action) as (before, fresh):
        after = change(before) if fresh else before
        if after != before:
            await _write(after)
    return await _named(after, before, member_no, member_name)


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


_VERIFICATION = ("verified_by", "verified_by_name", "verified_at", "products")


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
        prescription = {k: v for k, v in prescription.items() if k not in _VERIFICATION}
    override = cart.override if ids <= set(cart.override.get("products", ())) else {}
    # A manager's approval to sell beyond stock was for these exact quantities: any change needs it again.
    override = {k: v for k, v in override.items() if k not in ("oversell", "acks")}
    # An acknowledged warning belongs to its line: it stays while the line does.
    acks = [a for a in cart.acknowledgements if a.get("product_id") in ids]
    if acks:
        override["acks"] = acks
    return replace(cart, lines=tuple(lines), prescription=prescription, override=override)


def _product_ids(cart: CartView) -> list[int]:
    return [line.product_id for line in cart.lines]


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

    return await _mutate(actor, change, key=key, action="add")


def _need_line(cart: CartView, product_id: int) -> CartLine:
    line = cart.line(product_id)
    if line is None:
        raise NotFound(_("That product is no longer in the cart."))
    return line


async def set_qty(actor: StaffUser, product_id: int, qty: int, key: str | None = None) -> CartView:
    """Set a line's quantity (1–999); 0 removes the line."""
    if qty < 0 or qty > MAX_QTY:
        raise ValidationFailed({"qty": _("Quantity must be between 1 and %(max)s.") % {"max": MAX_QTY}})

    def change(cart: CartView) -> CartView:
        line = _need_line(cart, product_id)
        if qty == 0:
            return _with_line(cart, None, product_id)
        # Traceability codes are per unit: keep no more of them than units sold.
        return _with_line(cart, replace(line, qty=qty, trace_codes=line.trace_codes[:qty]), product_id)

    return await _mutate(actor, change, key=key, action="qty")


async def change_qty(actor: StaffUser, product_id: int, delta: int, key: str | None = None) -> CartView:
    """The +/− buttons: add `delta` to a line's quantity, never below 1."""

    def change(cart: CartView) -> CartView:
        line = _need_line(cart, product_id)
        qty = max(1, min(MAX_QTY, line.qty + delta))
        return _with_line(cart, replace(line, qty=qty, trace_codes=line.trace_codes[:qty]), product_id)

    return await _mutate(actor, change, key=key, action="qty")


async def remove_line(actor: StaffUser, product_id: int, key: str | None = None) -> CartView:
    """Take a product out of the cart."""
    return await _mutate(
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
        line = _need_line(cart, product_id)
        return _with_line(cart, replace(line, line_discount=discount_fen), product_id)

    return await _mutate(actor, change, key=key, action="discount")


def _without_points(tender: dict) -> dict:
    """The tender without an amount of points typed (they were another member's)."""
    return {k: v for k, v in tender.items() if k != "points_amount"}


def _for_member(cart: CartView, member_id: int | None) -> CartView:
    """The cart sold to another customer: what was approved or typed for the one before does not carry over (an
    allergy override, a manager's approval, the prescription's check, points to pay with)."""
    prescription = {k: v for k, v in cart.prescription.items() if k not in _VERIFICATION}
    return replace(
        cart,
        member_id=member_id,
        pending_member_id=None,
        override={},
        prescription=prescription,
        tender=_without_points(cart.tender),
    )


async def claim_member(
    actor: StaffUser, member_id: int, member_no: str | None = None, member_name: str = "", key: str | None = None
) -> CartView:
    """A member scanned (or registered) at the counter is the open cart's customer — unless the cart holds another
    member's lines: then nothing moves, and the cart asks whom the sale is for (`pending_member_id`; answered by
    `answer_switch`). Scanning the cart's own member again changes nothing (and answers an open question: keep).

    `member_no` (the member's number, when the caller has it) spares reading it back.
    """
    if is_sqlite() and key is None:
        # The common case in one compare-and-swap statement instead of a read and a transaction: on SQLite every
        # `_mutate` holds the write lock from its read to its write, so this cannot land inside one. It changes
        # nothing when there is no open cart, its key already made a sale, the member is already on it or the cart
        # holds another member's lines; those go the usual way below. (On PostgreSQL `_mutate` serialises on the
        # staff row, which a bare UPDATE would bypass.)
        done = await fetch(
            "UPDATE cart SET member = {}, override = {}, pending_member = NULL, updated_at = {} WHERE id ="
            " (SELECT c.id FROM cart c WHERE c.staff = {} AND c.store = {} AND c.device = {} AND c.status = 'open'"
            " ORDER BY c.id DESC LIMIT 1) AND member IS NOT {} AND (member IS NULL OR lines = '[]')"
            " AND NOT EXISTS (SELECT 1 FROM sale s WHERE s.idempotency_key = cart.key)"
            " RETURNING id, key, store, staff, member, lines, coupon_codes, prescription, override, status, sale,"
            " device, tender, pending_member",
            member_id,
            "{}",
            datetime.now(UTC),
            actor.id,
            _store_of(actor),
            devices.require(actor),
            member_id,
        )
        if done:  # the cart as it is now
            if member_no is None:
                member_no, member_name = await _member_name(member_id)
            return _view({**done[0], "member_no": member_no, "member_name": member_name})
        row = await _open_row(actor)
        if row is not None and row["sold"] is None and row["member"] == member_id and row["pending_member"] is None:
            return _view(row)

    def change(cart: CartView) -> CartView:
        if cart.member_id == member_id:
            return replace(cart, pending_member_id=None)
        if cart.member_id is not None and cart.lines:
            return replace(cart, pending_member_id=member_id)
        return replace(cart, member_id=member_id, pending_member_id=None, override={})

    return await _mutate(actor, change, member_no=member_no, member_name=member_name, key=key, action="member")


async def to_walk_in(actor: StaffUser, key: str | None = None) -> CartView:
    """Sell without a member (walk-in): the member comes off the cart with what was approved for them."""
    return await _mutate(actor, lambda cart: _for_member(cart, None), key=key, action="walk-in")


SWITCH_CHOICES = ("new", "move", "keep")


async def answer_switch(actor: StaffUser, choice: str, cart_key: str, key: str | None = None) -> CartView:
    """The answer to "whom is this sale for?" after another member's card was scanned: `new` holds this sale and
    opens one for them, `move` makes them this sale's customer (lines checked again against their allergies: what
    was approved for the one before is dropped), `keep` leaves the sale as it is. `cart_key` is the cart the
    question was asked on: a stale question (another tablet, a sale made meanwhile) changes nothing."""
    if choice not in SWITCH_CHOICES:
        raise ValidationFailed({"switch": _("Choose a new sale, moving the items, or keeping the sale.")})
    async with _locked(actor, key, "switch") as (cart, fresh):
        if not fresh:
            return cart
        if cart.key != cart_key or cart.pending_member_id is None:
            raise ValidationFailed({"switch": _("The sale changed meanwhile: scan the card again.")})
        after = cart
        if choice == "keep":
            after = replace(cart, pending_member_id=None)
        elif choice == "move":
            after = _for_member(cart, cart.pending_member_id)
        if choice != "new":
            await _write(after)
        else:
            await _hold(cart.id, cart.store_id)
            after = _view(await _create(actor, member_id=cart.pending_member_id))
            return replace(after, member_no=cart.pending_member_no, member_name=cart.pending_member_name)
    return await _named(after, cart)


async def set_tender(
    actor: StaffUser, kind: str, amount: str = "", points_amount: str = "", key: str | None = None
) -> CartView:
    """Keep the tender tapped and the amounts typed with the cart (as typed: the quote says what is wrong)."""

    tender = {
        "kind": kind if kind in sales.TENDER_KINDS else "cash",
        "amount": (amount or "").strip()[:_TENDER_TEXT],
        "points_amount": (points_amount or "").strip()[:_TENDER_TEXT],
    }
    return await _mutate(actor, lambda cart: replace(cart, tender=tender), key=key, action="tender")


# ---------------------------------------------------------------- held sales


def _expiry(timezone: str | None, now: datetime) -> datetime:
    """When a sale parked `now` expires: at the store's day end, or after `held_sale_hours` when that is set."""
    hours = get_settings().held_sale_hours
    if hours:
        return now + timedelta(hours=hours)
    try:
        zone = ZoneInfo(timezone or get_settings().timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo(get_settings().timezone)
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)


async def _hold(cart_id: int, store_id: int) -> None:
    """Park one cart (in the caller's transaction)."""
    now = datetime.now(UTC)
    zone = await fetch("SELECT timezone FROM store WHERE id = {}", store_id)
    await fetch(
        "UPDATE cart SET status = 'parked', parked_at = {}, expires_at = {}, pending_member = NULL, updated_at = {}"
        " WHERE id = {} AND status = 'open'",
        now,
        _expiry(zone[0]["timezone"] if zone else None, now),
        now,
        cart_id,
    )


async def park(actor: StaffUser, key: str | None = None) -> CartView:
    """Put the open sale aside in the store's held-sales list (an empty cart is not kept); a fresh cart opens."""
    async with _locked(actor, key, "park") as (cart, fresh):
        if fresh and cart.lines:
            await _hold(cart.id, cart.store_id)
    return await current(actor)


async def _hold_where(where: str, *args: Any) -> None:
    """Park the open carts `where` says that hold lines, give up the empty ones (in the caller's transaction)."""
    rows = await fetch(
        f"SELECT id, store, CAST(lines AS TEXT) AS lines FROM cart WHERE status = 'open' AND {where}", *args
    )
    for row in rows:
        if _lines_of(row["lines"]):
            await _hold(row["id"], row["store"])
        else:
            await fetch(
                "UPDATE cart SET status = 'abandoned', updated_at = {} WHERE id = {}", datetime.now(UTC), row["id"]
            )


async def park_at_logout(actor: StaffUser) -> None:
    """The person leaves the tablet: their open sale is held (nothing lost, nothing shown to the next login)."""
    device = devices.device_id(actor)
    if device is None or actor.store_id is None:
        return
    async with transaction():
        await _hold_where("staff = {} AND store = {} AND device = {}", actor.id, actor.store_id, device)


async def revoke_device(actor: StaffUser, device_id: int) -> devices.Device:
    """A store manager withdraws a tablet of their store (audited); its open carts are held, nothing is lost."""
    async with transaction():
        if await devices.mark_revoked(actor, device_id):
            await _hold_where("device = {}", device_id)
    return await devices.revoked(actor, device_id)


async def _expire(store_id: int) -> None:
    await fetch(
        "UPDATE cart SET status = 'expired' WHERE store = {} AND status = 'parked' AND expires_at <= {}",
        store_id,
        datetime.now(UTC),
    )


async def held_count(store_id: int | None) -> int:
    """How many sales wait in the store's held-sales list."""
    if store_id is None:
        return 0
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM cart WHERE store = {} AND status = 'parked' AND expires_at > {}",
        store_id,
        datetime.now(UTC),
    )
    return int(rows[0]["n"])


async def held_sales(actor: StaffUser) -> list[HeldSale]:
    """The store's held sales, newest first, then those that expired in the last day (shown as such)."""
    store_id = _store_of(actor)
    await _expire(store_id)
    now = datetime.now(UTC)
    rows = await fetch(
        "SELECT c.id, c.key, c.status, CAST(c.lines AS TEXT) AS lines, CAST(c.coupon_codes AS TEXT) AS coupon_codes,"
        " c.parked_at, c.expires_at, s.display_name AS staff_name, d.name AS device_name, m.member_no,"
        " m.name AS member_name FROM cart c JOIN staff s ON s.id = c.staff"
        " LEFT JOIN counter_device d ON d.id = c.device LEFT JOIN member m ON m.id = c.member WHERE c.store = {}"
        " AND (c.status = 'parked' OR (c.status = 'expired' AND c.expires_at > {}))"
        f" ORDER BY c.status DESC, c.parked_at DESC, c.id DESC LIMIT {MAX_HELD}",
        store_id,
        now - timedelta(days=1),
    )
    carts = [(row, _lines_of(row["lines"])) for row in rows]
    products = await catalog.products_by_ids({line.product_id for _, lines in carts for line in lines})
    held = []
    for row, lines in carts:
        known = [(line, products[line.product_id]) for line in lines if line.product_id in products]
        held.append(
            HeldSale(
                id=row["id"],
                key=row["key"],
                staff_name=row["staff_name"],
                device_name=row["device_name"] or "",
                member_no=row["member_no"],
                member_name=row["member_name"] or "",
                lines=len(lines),
                units=sum(line.qty for line in lines),
                total=sum(p.price * line.qty - line.line_discount for line, p in known),
                coupons=len(_loads(row["coupon_codes"], [])),
                parked_at=row["parked_at"],
                expires_at=row["expires_at"],
                expired=row["status"] == "expired" or row["expires_at"] <= now,
                names=tuple(p.name for _, p in known),
            )
        )
    return held


async def resume(actor: StaffUser, cart_id: int, key: str | None = None) -> CartView:
    """Take a held sale of the store back to this tablet (the open one, if it holds lines, is held in its place)."""
    store_id = _store_of(actor)
    async with _locked(actor, key, "resume") as (cart, fresh):
        if not fresh:
            return cart
        rows = await fetch("SELECT status, expires_at FROM cart WHERE id = {} AND store = {}", cart_id, store_id)
        if not rows or rows[0]["status"] not in ("parked", "expired"):
            raise NotFound(_("No held sale %(id)s in this store (it may have been resumed already).") % {"id": cart_id})
        now = datetime.now(UTC)
        if rows[0]["status"] == "expired" or rows[0]["expires_at"] <= now:
            raise ValidationFailed({"resume": _("This held sale has expired. Scan the products again.")})
        # The tablet's open cart steps aside first: one open cart per person per tablet.
        if cart.lines:
            await _hold(cart.id, cart.store_id)
        else:
            await fetch("UPDATE cart SET status = 'abandoned', updated_at = {} WHERE id = {}", now, cart.id)
        taken = await fetch(
            "UPDATE cart SET status = 'open', staff = {}, device = {}, parked_at = NULL, expires_at = NULL,"
            " updated_at = {} WHERE id = {} AND store = {} AND status = 'parked' RETURNING id",
            actor.id,
            devices.require(actor),
            now,
            cart_id,
            store_id,
        )
        if not taken:
            raise NotFound(_("No held sale %(id)s in this store (it may have been resumed already).") % {"id": cart_id})
    return await current(actor)


async def allergies_changed(member_id: int) -> None:
    """The member's allergies changed while a sale for them is open or held: an allergy override given before
    covered what was known then, so it is dropped and the cart is checked afresh (a manager's stock approval stays)."""
    rows = await fetch(
        "SELECT id, CAST(override AS TEXT) AS override FROM cart WHERE member = {} AND status IN ('open', 'parked')",
        member_id,
    )
    for row in rows:
        override = _loads(row["override"], {})
        if override.get("reason"):
            kept = {k: v for k, v in override.items() if k == "oversell"}
            await fetch(
                "UPDATE cart SET override = {}, updated_at = {} WHERE id = {}",
                json.dumps(kept, ensure_ascii=False),
                datetime.now(UTC),
                row["id"],
            )


async def add_coupon(actor: StaffUser, code: str, key: str | None = None) -> CartView:
    """Put a coupon code on the cart (the sale component says whether it applies)."""
    code = coupons.normalize_code(code)
    if not code:
        raise ValidationFailed({"coupon": _("Type or scan a coupon code.")})

    def change(cart: CartView) -> CartView:
        if code in cart.coupon_codes:
            return cart
        if len(cart.coupon_codes) >= MAX_COUPONS:
            raise ValidationFailed({"coupon": _("No more than %(n)s coupons on one sale.") % {"n": MAX_COUPONS}})
        return replace(cart, coupon_codes=(*cart.coupon_codes, code))

    return await _mutate(actor, change, key=key, action="coupon")


def looks_like_coupon(code: str) -> bool:
    """A printed coupon code as the scan field may receive it (no product or member code has this shape)."""
    code = coupons.normalize_code(code)
    return len(code) == coupons.CODE_LENGTH and set(code) <= set(coupons.CODE_ALPHABET) and not code.isdigit()


async def remove_coupon(actor: StaffUser, code: str, key: str | None = None) -> CartView:
    """Take a coupon code off the cart."""
    code = coupons.normalize_code(code)
    return await _mutate(
        actor,
        lambda cart: replace(cart, coupon_codes=tuple(c for c in cart.coupon_codes if c != code)),
        key=key,
        action="coupon",
    )


async def set_prescription(actor: StaffUser, number: str, hospital: str, image: str | None = None) -> CartView:
    """The prescription reference for the Rx lines; a new reference needs a new verification."""
    errors = prescription_errors(number, hospital)
    if errors:
        raise ValidationFailed(errors)
    number, hospital = number.strip(), hospital.strip()

    def change(cart: CartView) -> CartView:
        rx = cart.prescription
        if image is None and (rx.get("number"), rx.get("hospital")) == (number, hospital):
            return cart  # the same reference again: its check stands
        kept = image if image is not None else rx.get("image", "")
        return replace(cart, prescription={"number": number, "hospital": hospital, "image": kept})

    return await _mutate(actor, change)


def prescription_errors(number: str, hospital: str) -> dict[str, str]:
    """What is wrong with a typed prescription reference (empty when nothing)."""
    number, hospital = number.strip(), hospital.strip()
    errors = {}
    if not number:
        errors["rx_number"] = _("Enter the prescription number.")
    elif len(number) > 40:
        errors["rx_number"] = _("At most %(n)s characters.") % {"n": 40}
    if not hospital:
        errors["rx_hospital"] = _("Enter the issuing hospital.")
    elif len(hospital) > 100:
        errors["rx_hospital"] = _("At most %(n)s characters.") % {"n": 100}
    return errors


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _verified(cart: CartView, pharmacist_id: int, pharmacist_name: str) -> CartView:
    if not cart.prescription.get("number"):
        raise ValidationFailed({"rx_number": _("Enter the prescription before it is verified.")})
    verified = {
        "verified_by": pharmacist_id,
        "verified_by_name": pharmacist_name,
        "verified_at": _now(),
        "products": _product_ids(cart),
    }
    return replace(cart, prescription={**cart.prescription, **verified})


def _overridden(
    cart: CartView, reason: str, by_staff_id: int, by_name: str, covers: Sequence[tuple[int, str]]
) -> CartView:
    override = {
        "reason": reason,
        "by": by_staff_id,
        "by_name": by_name,
        "at": _now(),
        "products": _product_ids(cart),
        "covers": [[product_id, allergen_class] for product_id, allergen_class in covers],
    }
    return replace(cart, override={**_kept(cart), **override})


async def _high_alerts(actor: StaffUser) -> list[tuple[int, str]]:
    """The high allergy alerts of the open cart as an approver sees them now, without any override given before
    (product id, recorded allergen class): what a new override answers, and nothing that comes up after it."""

    cart = await current(actor)
    if cart.is_empty:
        return []
    quoted = await sales.quote(to_sale_request(replace(cart, override=_kept(cart))), actor)
    return [(c["product_id"], c["recorded_class"] or "") for c in quoted.conflicts]


def override_reason_errors(reason: str) -> dict[str, str]:
    """What is wrong with an override's reason (empty when nothing)."""
    reason = (reason or "").strip()
    if not reason:
        return {"reason": _("Say why the sale may go ahead despite the allergy.")}
    if len(reason) > 500:
        return {"reason": _("At most %(n)s characters.") % {"n": 500}}
    return {}


def _seen(cart: CartView, products: Sequence[int] | None) -> None:
    """An approval is for the cart the approver saw: refused when a line came or went meanwhile."""
    if products is not None and sorted(set(products)) != sorted(_product_ids(cart)):
        raise ValidationFailed(
            {"approve": _("The cart changed while it was being approved: check it and approve again.")}
        )


async def pharmacist_pending(actor: StaffUser) -> tuple[CartView, tuple[str, ...]]:
    """The open cart and what in it waits for a pharmacist ("allergy_override", "rx_verified"), as its quote says."""

    cart = await current(actor)
    if cart.is_empty:
        return cart, ()
    return cart, (await sales.quote(to_sale_request(cart), actor)).pharmacist_pending


async def verify_prescription(actor: StaffUser, pharmacist_id: int, pharmacist_name: str) -> CartView:
    """Record which pharmacist checked the prescription against the Rx lines (and when)."""
    return await _mutate(actor, lambda cart: _verified(cart, pharmacist_id, pharmacist_name))


async def set_override(actor: StaffUser, reason: str, by_staff_id: int, by_name: str) -> CartView:
    """A pharmacist's override of the high allergy alerts, with the reason (audited when the sale is made)."""
    errors = override_reason_errors(reason)
    if errors:
        raise ValidationFailed(errors)
    covers = await _high_alerts(actor)
    return await _mutate(actor, lambda cart: _overridden(cart, reason.strip(), by_staff_id, by_name, covers))


async def approve(
    actor: StaffUser,
    pharmacist_id: int,
    pharmacist_name: str,
    *,
    reason: str | None = None,
    verify_rx: bool = False,
    products: Sequence[int] | None = None,
) -> CartView:
    """Everything a pharmacist approves at once, each recorded on its own: the allergy override with `reason`
    (when given) and the prescription check (`verify_rx`). `products` are the cart's products as the approver saw
    them: a cart changed meanwhile is refused."""
    covers: list[tuple[int, str]] = []
    if reason is not None:
        errors = override_reason_errors(reason)
        if errors:
            raise ValidationFailed(errors)
        covers = await _high_alerts(actor)

    def change(cart: CartView) -> CartView:
        _seen(cart, products)
        if reason is not None:
            cart = _overridden(cart, reason.strip(), pharmacist_id, pharmacist_name, covers)
        if verify_rx:
            cart = _verified(cart, pharmacist_id, pharmacist_name)
        return cart

    return await _mutate(actor, change)


async def acknowledge(actor: StaffUser, product_id: int, allergen_class: str) -> CartView:
    """One tap: `actor` has read the allergy warning of a line for the recorded allergen class (who and when are
    kept, and stored with the sale). A block is never cleared this way: the sale component decides what needs it."""
    allergen_class = (allergen_class or "").strip()
    if not allergen_class or len(allergen_class) > 40:
        raise ValidationFailed({"acknowledge": _("Name the allergen class of the warning.")})

    def change(cart: CartView) -> CartView:
        _need_line(cart, product_id)
        acks = [
            a
            for a in cart.acknowledgements
            if (a.get("product_id"), a.get("allergen_class")) != (product_id, allergen_class)
        ]
        ack = {
            "product_id": product_id,
            "allergen_class": allergen_class,
            "by": actor.id,
            "by_name": actor.display_name,
            "at": _now(),
        }
        return replace(cart, override={**cart.override, "acks": [*acks, ack]})

    return await _mutate(actor, change)


def _kept(cart: CartView) -> dict:
    """The approvals an allergy override's change leaves alone: overselling and acknowledged warnings."""
    return {k: cart.override[k] for k in ("oversell", "acks") if k in cart.override}


async def clear_override(actor: StaffUser) -> CartView:
    """Withdraw an allergy override."""
    return await _mutate(actor, lambda cart: replace(cart, override=_kept(cart)))


async def approve_oversell(actor: StaffUser, manager_id: int, manager_name: str) -> CartView:
    """A store manager allows this cart, as it is now, to sell beyond recorded stock (when the chain allows it)."""

    def change(cart: CartView) -> CartView:
        if cart.is_empty:
            raise ValidationFailed({"oversell": _("The cart is empty.")})
        approval = {"by": manager_id, "by_name": manager_name, "at": _now()}
        return replace(cart, override={**cart.override, "oversell": approval})

    return await _mutate(actor, change)


async def abandon(actor: StaffUser) -> CartView:
    """Give up the open cart (nothing sold) and start a fresh one."""
    async with transaction():
        await fetch(
            "UPDATE cart SET status = 'abandoned', updated_at = {} WHERE staff = {} AND store = {} AND device = {}"
            " AND status = 'open'",
            datetime.now(UTC),
            actor.id,
            _store_of(actor),
            devices.require(actor),
        )
    return await current(actor)


async def by_key(key: str, actor: StaffUser) -> CartView:
    """A cart of this staff member on this tablet by its key (open or checked out), for a replayed checkout."""
    rows = await fetch(
        _CART_SQL + " WHERE c.key = {} AND c.staff = {} AND c.device = {}", key, actor.id, devices.require(actor)
    )
    if not rows:
        raise NotFound(_("This sale form is not yours or has expired. Reload the counter."))
    return _view(rows[0])


async def close(cart: CartView) -> None:
    """The cart became a sale (made with its key): the next scan starts a fresh cart."""
    await fetch(
        "UPDATE cart SET status = 'done', sale = (SELECT id FROM sale WHERE idempotency_key = {}), updated_at = {}"
        " WHERE id = {} AND status = 'open'",
        cart.key,
        datetime.now(UTC),
        cart.id,
    )


def to_sale_request(cart: CartView, tenders: Sequence[Any] = ()) -> Any:
    """The sales.SaleRequest the sale component quotes and records; the cart's key is the idempotency key."""

    lines = [
        sales.LineRequest(
            # A GS1 scan names its batch/serial: pass it on so the sale line records what was scanned.
            code=line.codes[0] if line.codes else "",
            product_id=line.product_id,
            qty=line.qty,
            line_discount=line.line_discount,
            trace_codes=tuple(line.trace_codes),
        )
        for line in cart.lines
    ]
    override = (
        sales.Override(
            reason=cart.override["reason"],
            approved_by=int(cart.override["by"]),
            at=_when(cart.override.get("at")),
            # An override given before overrides were scoped (no "covers") covers nothing: it is asked again.
            covers=tuple((int(p), str(c)) for p, c in cart.override.get("covers") or ()),
        )
        if cart.override.get("reason") and cart.override.get("by")
        else None
    )
    oversell = cart.override.get("oversell") or {}
    rx = cart.prescription
    prescription = (
        sales.Prescription(
            number=rx.get("number", ""),
            hospital=rx.get("hospital", ""),
            image=rx.get("image", ""),
            verified_by=rx.get("verified_by"),
            verified_at=_when(rx.get("verified_at")),
        )
        if rx.get("number")
        else None
    )
    line_nos = {line.product_id: n for n, line in enumerate(cart.lines, start=1)}
    acknowledged = tuple(
        sales.Acknowledgement(
            line_no=line_nos[a["product_id"]],
            allergen_class=a["allergen_class"],
            by=int(a["by"]),
            at=_when(a.get("at")),
        )
        for a in cart.acknowledgements
        if a.get("product_id") in line_nos and a.get("allergen_class") and a.get("by")
    )
    return sales.SaleRequest(
        idempotency_key=cart.key,
        store_id=cart.store_id,
        member_no=cart.member_no,
        lines=lines,
        coupon_codes=list(cart.coupon_codes),
        tenders=list(tenders),
        override=override,
        prescription=prescription,
        oversell_approved_by=oversell.get("by"),
        oversell_approved_at=_when(oversell.get("at")),
        acknowledged=acknowledged,
    )


def _when(value: Any) -> datetime | None:
    """A time the cart stored (ISO text), or None."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


# ---------------------------------------------------------------- prescription images

RX_IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
RX_IMAGE_MAX_BYTES = 8 * 1024 * 1024
_RX_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp)")


def _rx_dir(store_id: int) -> Path:
    return get_settings().data_dir / "uploads" / "rx" / str(store_id)


def check_rx_image(data: bytes, content_type: str) -> str:
    """The file suffix for an acceptable prescription photo, else ValidationFailed on "rx_image"."""
    suffix = RX_IMAGE_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if suffix is None:
        raise ValidationFailed({"rx_image": _("The prescription image must be a JPEG, PNG or WebP photo.")})
    if not data:
        raise ValidationFailed({"rx_image": _("The prescription image is empty.")})
    if len(data) > RX_IMAGE_MAX_BYTES:
        raise ValidationFailed({"rx_image": _("The prescription image is larger than 8 MB.")})
    return suffix


def save_rx_image(actor: StaffUser, data: bytes, content_type: str) -> str:
    """Store a photo of a prescription under the data directory; returns its name (served to the store only)."""
    suffix = check_rx_image(data, content_type)
    folder = _rx_dir(_store_of(actor))
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex + suffix
    (folder / name).write_bytes(data)
    return name


def rx_image_path(actor: StaffUser, name: str) -> Path:
    """The file of a prescription image of the actor's own store, or NotFound."""
    path = _rx_dir(_store_of(actor)) / name
    if not _RX_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(_("No prescription image %(name)s in this store.") % {"name": name})
    return path
