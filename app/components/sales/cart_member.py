"""Whom the cart's sale is for: a member scanned at the counter, walk-in, and the question asked when another
member's card is scanned while the cart holds its member's lines (hold this sale, move the lines, or keep)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.sales import devices
from app.components.sales.cart import (
    VERIFICATION,
    CartView,
    create,
    hold,
    locked,
    member_no_and_name,
    mutate,
    named,
    open_row,
    store_of,
    view_of,
    write,
)
from app.components.sales.queries import cart as cart_sql
from app.db import single_writer
from app.i18n import _


def _without_points(tender: dict) -> dict:
    """The tender without an amount of points typed (they were another member's)."""
    return {k: v for k, v in tender.items() if k != "points_amount"}


def _for_member(cart: CartView, member_id: int | None) -> CartView:
    """The cart sold to another customer: what was approved or typed for the one before does not carry over (an
    allergy override, a manager's approval, the prescription's check, points to pay with)."""
    prescription = {k: v for k, v in cart.prescription.items() if k not in VERIFICATION}
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
    if single_writer() and key is None:
        # The common case in one compare-and-swap statement instead of a read and a transaction: with a single
        # writer (SQLite) every `mutate` holds the write lock from its read to its write, so this cannot land inside
        # one. It changes nothing when there is no open cart, its key already made a sale, the member is already on
        # it or the cart holds another member's lines; those go the usual way below. (On PostgreSQL `mutate`
        # serialises on the staff row, which a bare UPDATE would bypass.)
        done = await cart_sql.claim_member_swap(
            member_id, "{}", datetime.now(UTC), actor.id, store_of(actor), devices.require(actor)
        )
        if done:  # the cart as it is now
            if member_no is None:
                member_no, member_name = await member_no_and_name(member_id)
            return view_of({**done[0], "member_no": member_no, "member_name": member_name})
        row = await open_row(actor)
        if row is not None and row["sold"] is None and row["member"] == member_id and row["pending_member"] is None:
            return view_of(row)

    def change(cart: CartView) -> CartView:
        if cart.member_id == member_id:
            return replace(cart, pending_member_id=None)
        if cart.member_id is not None and cart.lines:
            return replace(cart, pending_member_id=member_id)
        return replace(cart, member_id=member_id, pending_member_id=None, override={})

    return await mutate(actor, change, member_no=member_no, member_name=member_name, key=key, action="member")


async def to_walk_in(actor: StaffUser, key: str | None = None) -> CartView:
    """Sell without a member (walk-in): the member comes off the cart with what was approved for them."""
    return await mutate(actor, lambda cart: _for_member(cart, None), key=key, action="walk-in")


SWITCH_CHOICES = ("new", "move", "keep")


async def answer_switch(actor: StaffUser, choice: str, cart_key: str, key: str | None = None) -> CartView:
    """The answer to "whom is this sale for?" after another member's card was scanned: `new` holds this sale and
    opens one for them, `move` makes them this sale's customer (lines checked again against their allergies: what
    was approved for the one before is dropped), `keep` leaves the sale as it is. `cart_key` is the cart the
    question was asked on: a stale question (another tablet, a sale made meanwhile) changes nothing."""
    if choice not in SWITCH_CHOICES:
        raise ValidationFailed({"switch": _("Choose a new sale, moving the items, or keeping the sale.")})
    async with locked(actor, key, "switch") as (cart, fresh):
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
            await write(after)
        else:
            await hold(cart.id, cart.store_id)
            after = view_of(await create(actor, member_id=cart.pending_member_id))
            return replace(after, member_no=cart.pending_member_no, member_name=cart.pending_member_name)
    return await named(after, cart)
