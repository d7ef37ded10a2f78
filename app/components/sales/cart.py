"""The counter cart: the sale one staff member is building on one counter tablet, kept in `cart` until checkout.

A cart is open (being built), parked (in the store's held-sales list until resumed or it expires), done (it became
a sale with its key), abandoned or expired. Every change may carry the key the counter sent with it: a change is
applied once per key (`cart_change`, written in the change's transaction), so a retried request changes nothing.
This module holds the cart's row and view, the lock every change runs under, and the cart as a sale request; the
changes themselves are in cart_lines, cart_member, cart_payment, cart_approvals and held_sales.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import devices
from app.components.sales.queries import cart as cart_sql
from app.components.sales.queries import sale as sale_sql
from app.components.sales.requests import (
    Acknowledgement,
    LineRequest,
    Override,
    Prescription,
    SaleRequest,
    TenderRequest,
)
from app.db import lock_row, transaction
from app.i18n import _
from app.settings import get_settings

# A change key as the counter makes it (32 hex digits) or any client's UUID: bounded, nothing else.
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


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


def loads(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, (list, dict)):
        return value
    return json.loads(value)


def lines_of(value: Any) -> tuple[CartLine, ...]:
    return tuple(
        CartLine(
            product_id=int(item["product_id"]),
            qty=int(item.get("qty", 1)),
            line_discount=int(item.get("line_discount", 0)),
            codes=tuple(item.get("codes") or ()),
            trace_codes=tuple(item.get("trace_codes") or ()),
        )
        for item in loads(value, [])
    )


def view_of(row: dict) -> CartView:
    return CartView(
        id=row["id"],
        key=row["key"],
        store_id=row["store"],
        staff_id=row["staff"],
        member_id=row["member"],
        member_no=row.get("member_no"),
        member_name=row.get("member_name") or "",
        lines=lines_of(row["lines"]),
        coupon_codes=tuple(loads(row["coupon_codes"], [])),
        prescription=loads(row["prescription"], {}),
        override=loads(row["override"], {}),
        status=row["status"],
        sale_id=row["sale"],
        device_id=row.get("device"),
        tender=loads(row.get("tender"), {}),
        pending_member_id=row.get("pending_member"),
        pending_member_no=row.get("pending_member_no"),
        pending_member_name=row.get("pending_member_name") or "",
    )


def store_of(actor: StaffUser) -> int:
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


async def open_row(actor: StaffUser) -> dict | None:
    """The open cart's row on the actor's tablet, with `sold` (the id of the sale its key made, else None)."""
    return await cart_sql.open_cart(actor.id, store_of(actor), devices.require(actor))


async def create(actor: StaffUser, member_id: int | None = None) -> dict:
    now = datetime.now(UTC)
    await cart_sql.insert_cart(uuid.uuid4().hex, store_of(actor), actor.id, member_id, devices.require(actor), now)
    row = await open_row(actor)
    assert row is not None
    return row


async def current(actor: StaffUser) -> CartView:
    """The actor's open cart on their tablet, created when there is none."""
    row = await open_row(actor)
    if row is not None and row["sold"] is None:
        return view_of(row)
    return await mutate(actor, lambda cart: cart)


async def sale_no_of(cart: CartView) -> str | None:
    """The number of the sale this cart's key made, if it made one (a replayed checkout shows that receipt)."""
    return await sale_sql.sale_no_by_key(cart.key)


async def _first_time(cart_id: int, key: str | None, action: str) -> bool:
    """Record that the change keyed `key` is being applied to the cart; False when it was applied before.

    The key is unique over all carts: a change retried after its cart became a sale is not applied to the next.
    """
    if key is None:
        return True
    return await cart_sql.insert_change(cart_id, key, action, datetime.now(UTC))


@asynccontextmanager
async def locked(actor: StaffUser, key: str | None = None, action: str = "") -> AsyncIterator[tuple[CartView, bool]]:
    """The open cart under the actor's write lock, and whether the keyed change is new (False: a replay)."""
    key = _checked_key(key)
    devices.require(actor)
    async with transaction(short=True):
        # One writer per staff member: concurrent scans queue here instead of overwriting each other's lines (on
        # SQLite the transaction's write lock already does).
        await lock_row("staff", actor.id)
        row = await open_row(actor)
        if row is not None and row["sold"] is not None:
            # The sale went through but the cart was never closed (a crash in between): close it now.
            await cart_sql.mark_done(row["id"])
            row = None
        cart = view_of(row or await create(actor))
        yield cart, await _first_time(cart.id, key, action)


async def write(cart: CartView) -> None:
    await cart_sql.update_cart(
        cart.id,
        cart.member_id,
        json.dumps([line.as_json() for line in cart.lines]),
        json.dumps(list(cart.coupon_codes)),
        json.dumps(cart.prescription, ensure_ascii=False),
        json.dumps(cart.override, ensure_ascii=False),
        json.dumps(cart.tender, ensure_ascii=False),
        cart.pending_member_id,
        datetime.now(UTC),
    )


async def named(after: CartView, before: CartView, member_no: str | None = None, member_name: str = "") -> CartView:
    """`after` with the number and name of its member and pending member, read only when they changed."""
    if after.member_id != before.member_id:
        if after.member_id is None:
            after = replace(after, member_no=None, member_name="")
        elif after.member_id == before.pending_member_id:
            after = replace(after, member_no=before.pending_member_no, member_name=before.pending_member_name)
        elif member_no is not None:
            after = replace(after, member_no=member_no, member_name=member_name)
        else:
            no, name = await member_no_and_name(after.member_id)
            after = replace(after, member_no=no, member_name=name)
    if after.pending_member_id != before.pending_member_id:
        if after.pending_member_id is None:
            after = replace(after, pending_member_no=None, pending_member_name="")
        elif member_no is not None:
            after = replace(after, pending_member_no=member_no, pending_member_name=member_name)
        else:
            no, name = await member_no_and_name(after.pending_member_id)
            after = replace(after, pending_member_no=no, pending_member_name=name)
    return after


async def member_no_and_name(member_id: int) -> tuple[str | None, str]:
    return await cart_sql.member_no_and_name(member_id)


async def mutate(
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
    async with locked(actor, key, action) as (before, fresh):
        after = change(before) if fresh else before
        if after != before:
            await write(after)
    return await named(after, before, member_no, member_name)


VERIFICATION = ("verified_by", "verified_by_name", "verified_at", "products")


def product_ids(cart: CartView) -> list[int]:
    return [line.product_id for line in cart.lines]


def need_line(cart: CartView, product_id: int) -> CartLine:
    line = cart.line(product_id)
    if line is None:
        raise NotFound(_("That product is no longer in the cart."))
    return line


def now_text() -> str:
    return datetime.now(UTC).isoformat()


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


async def hold(cart_id: int, store_id: int) -> None:
    """Park one cart (in the caller's transaction)."""
    now = datetime.now(UTC)
    zone = await cart_sql.store_timezone(store_id)
    await cart_sql.park(cart_id, now, _expiry(zone, now))


async def abandon(actor: StaffUser) -> CartView:
    """Give up the open cart (nothing sold) and start a fresh one."""
    async with transaction():
        await cart_sql.abandon_open(actor.id, store_of(actor), devices.require(actor), datetime.now(UTC))
    return await current(actor)


async def by_key(key: str, actor: StaffUser) -> CartView:
    """A cart of this staff member on this tablet by its key (open or checked out), for a replayed checkout."""
    row = await cart_sql.cart_by_key(key, actor.id, devices.require(actor))
    if row is None:
        raise NotFound(_("This sale form is not yours or has expired. Reload the counter."))
    return view_of(row)


async def close(cart: CartView) -> None:
    """The cart became a sale (made with its key): the next scan starts a fresh cart."""
    await cart_sql.close(cart.id, cart.key, datetime.now(UTC))


def to_sale_request(cart: CartView, tenders: Sequence[TenderRequest] = ()) -> SaleRequest:
    """The SaleRequest the sale component quotes and records; the cart's key is the idempotency key."""

    lines = [
        LineRequest(
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
        Override(
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
        Prescription(
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
        Acknowledgement(
            line_no=line_nos[a["product_id"]],
            allergen_class=a["allergen_class"],
            by=int(a["by"]),
            at=_when(a.get("at")),
        )
        for a in cart.acknowledgements
        if a.get("product_id") in line_nos and a.get("allergen_class") and a.get("by")
    )
    return SaleRequest(
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
