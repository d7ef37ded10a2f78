"""Paying for the cart: the tender tapped and the amounts typed (kept with the cart), and the coupons on it."""

from __future__ import annotations

from dataclasses import replace

from app.components import coupons
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.sales.cart import CartView, mutate
from app.components.sales.requests import TENDER_KINDS
from app.i18n import _

MAX_COUPONS = 10
_TENDER_TEXT = 20  # the longest typed amount kept with the cart


async def set_tender(
    actor: StaffUser, kind: str, amount: str = "", points_amount: str = "", key: str | None = None
) -> CartView:
    """Keep the tender tapped and the amounts typed with the cart (as typed: the quote says what is wrong)."""

    tender = {
        "kind": kind if kind in TENDER_KINDS else "cash",
        "amount": (amount or "").strip()[:_TENDER_TEXT],
        "points_amount": (points_amount or "").strip()[:_TENDER_TEXT],
    }
    return await mutate(actor, lambda cart: replace(cart, tender=tender), key=key, action="tender")


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

    return await mutate(actor, change, key=key, action="coupon")


def looks_like_coupon(code: str) -> bool:
    """A printed coupon code as the scan field may receive it (no product or member code has this shape)."""
    code = coupons.normalize_code(code)
    return len(code) == coupons.CODE_LENGTH and set(code) <= set(coupons.CODE_ALPHABET) and not code.isdigit()


async def remove_coupon(actor: StaffUser, code: str, key: str | None = None) -> CartView:
    """Take a coupon code off the cart."""
    code = coupons.normalize_code(code)
    return await mutate(
        actor,
        lambda cart: replace(cart, coupon_codes=tuple(c for c in cart.coupon_codes if c != code)),
        key=key,
        action="coupon",
    )
