"""Held sales: carts parked in the store's list (at logout, when a tablet is withdrawn, or to serve someone else)
until resumed on any tablet of the store, or until they expire at the store's day end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.components import catalog
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import devices
from app.components.sales.cart import CartView, current, hold, lines_of, loads, locked, store_of
from app.components.sales.queries import cart as cart_sql
from app.db import transaction
from app.i18n import _

MAX_HELD = 100  # held sales listed per store


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


async def park(actor: StaffUser, key: str | None = None) -> CartView:
    """Put the open sale aside in the store's held-sales list (an empty cart is not kept); a fresh cart opens."""
    async with locked(actor, key, "park") as (cart, fresh):
        if fresh and cart.lines:
            await hold(cart.id, cart.store_id)
    return await current(actor)


async def _hold_all(rows: list[dict]) -> None:
    """Park those of these open carts that hold lines, give up the empty ones (in the caller's transaction)."""
    for row in rows:
        if lines_of(row["lines"]):
            await hold(row["id"], row["store"])
        else:
            await cart_sql.abandon_cart(row["id"], datetime.now(UTC))


async def park_at_logout(actor: StaffUser) -> None:
    """The person leaves the tablet: their open sale is held (nothing lost, nothing shown to the next login)."""
    device = devices.device_id(actor)
    if device is None or actor.store_id is None:
        return
    async with transaction():
        await _hold_all(await cart_sql.open_carts_on_tablet_of(actor.id, actor.store_id, device))


async def revoke_device(actor: StaffUser, device_id: int) -> devices.Device:
    """A store manager withdraws a tablet of their store (audited); its open carts are held, nothing is lost."""
    async with transaction():
        if await devices.mark_revoked(actor, device_id):
            await _hold_all(await cart_sql.open_carts_on_tablet(device_id))
    return await devices.revoked(actor, device_id)


async def _expire(store_id: int) -> None:
    await cart_sql.expire_held(store_id, datetime.now(UTC))


async def held_count(store_id: int | None) -> int:
    """How many sales wait in the store's held-sales list."""
    if store_id is None:
        return 0
    return await cart_sql.held_count(store_id, datetime.now(UTC))


async def held_sales(actor: StaffUser) -> list[HeldSale]:
    """The store's held sales, newest first, then those that expired in the last day (shown as such)."""
    store_id = store_of(actor)
    await _expire(store_id)
    now = datetime.now(UTC)
    rows = await cart_sql.held(store_id, now - timedelta(days=1), MAX_HELD)
    carts = [(row, lines_of(row["lines"])) for row in rows]
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
                coupons=len(loads(row["coupon_codes"], [])),
                parked_at=row["parked_at"],
                expires_at=row["expires_at"],
                expired=row["status"] == "expired" or row["expires_at"] <= now,
                names=tuple(p.name for _, p in known),
            )
        )
    return held


async def resume(actor: StaffUser, cart_id: int, key: str | None = None) -> CartView:
    """Take a held sale of the store back to this tablet (the open one, if it holds lines, is held in its place)."""
    store_id = store_of(actor)
    async with locked(actor, key, "resume") as (cart, fresh):
        if not fresh:
            return cart
        state = await cart_sql.held_state(cart_id, store_id)
        if state is None or state["status"] not in ("parked", "expired"):
            raise NotFound(_("No held sale %(id)s in this store (it may have been resumed already).") % {"id": cart_id})
        now = datetime.now(UTC)
        if state["status"] == "expired" or state["expires_at"] <= now:
            raise ValidationFailed({"resume": _("This held sale has expired. Scan the products again.")})
        # The tablet's open cart steps aside first: one open cart per person per tablet.
        if cart.lines:
            await hold(cart.id, cart.store_id)
        else:
            await cart_sql.abandon_cart(cart.id, now)
        taken = await cart_sql.take_held(cart_id, store_id, actor.id, devices.require(actor), now)
        if not taken:
            raise NotFound(_("No held sale %(id)s in this store (it may have been resumed already).") % {"id": cart_id})
    return await current(actor)
