"""The scan field beyond members: a product, a coupon, a receipt's barcode; a member scanned onto the cart."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.response import Template

from app.components import catalog, coupons, members, sales
from app.components.core.errors import NotFound, ValidationFailed
from app.components.scanning import BadScan, scanned_text
from app.i18n import _
from app.routes.counter.context import PAGE, cart_ctx, change_key, page_ctx, to_sale
from app.routes.render import render, wants_partial

_PHONE_CHARS = re.compile(r"[\s\-()]")


def is_member_code(code: str) -> bool:
    """A member card / member number, or an 11-digit mainland mobile number: the scan field's member branch."""
    compact = _PHONE_CHARS.sub("", scanned_text(code))
    if not compact.isdigit():
        return False
    # Member-number shaped even with a wrong check digit: "no such member, register?" beats "bad barcode"
    # (10 digits is no barcode length, so no product code is taken for a member).
    if len(compact) == members.MEMBER_NO_LENGTH and compact.startswith(members.MEMBER_NO_PREFIX):
        return True
    return len(compact) == 11 and compact.startswith("1")


async def scan_member(request: Request, found: members.MemberView) -> sales.CartView:
    """A member scanned at a selling role's counter is also the customer of the open cart, unless it holds another
    member's lines (then the cart asks whom the sale is for); returned, for `cart_ctx`, so it is not read twice."""
    return await sales.claim_member(request.user, found.id, found.member_no, found.name, key=change_key(request))


async def switch_asked(request: Request, cart: sales.CartView, code: str) -> Template:
    """Another member's card while the cart holds its member's lines: the member panel stays, the cart asks."""
    ctx = await cart_ctx(request, cart=cart, scan_code=code, switch_asked=True)
    return render(request, "counter/_scan.html", ctx, headers={"HX-Reswap": "none"})


async def scan_product(request: Request, code: str) -> Response | Template:
    """A product (or coupon) code from the scan field: add a line (or the coupon), or say next to the field why
    not; the cart is untouched then."""
    key = change_key(request)
    try:
        resolved = await catalog.resolve_code(code)
    except (BadScan, NotFound) as exc:
        sale_no = await sales.sale_no_for(request.user.store_id, scanned_text(code)) if request.user.store_id else None
        if sale_no:
            # A receipt's (or a refund slip's) barcode scanned at the counter: the customer is back with it, to
            # return something or for a reprint. The sale opens; the cart stays as it was.
            return to_sale(request, sale_no)
        if sales.looks_like_coupon(code):
            # A printed coupon scanned where products are scanned: a clerk expects it to go on the sale.
            try:
                cart = await sales.add_coupon(request.user, code, key=key)
            except ValidationFailed as refused:
                return await _scan_answer(request, code, error=" ".join(refused.errors.values()))
            return await _scan_answer(request, code, cart=cart, coupon=coupons.normalize_code(code))
        return await _scan_answer(request, code, error=exc.message)
    if not resolved.product.active:
        return await _scan_answer(
            request, code, error=_("%(name)s is no longer sold.") % {"name": resolved.product.name}
        )
    cart = await sales.add_product(request.user, resolved.product.id, resolved.scan, key=key)
    return await _scan_answer(request, code, cart=cart, added=resolved.product)


async def _scan_answer(
    request: Request,
    code: str,
    cart: sales.CartView | None = None,
    added: Any = None,
    error: str = "",
    coupon: str = "",
) -> Template:
    status = 422 if error else 200
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request, scan_error=error, scan_code=code), status_code=status)
    # A bad code: only the message goes back (the cart is as it was, so it is neither quoted nor sent).
    ctx = {"scan_error": error, "scan_code": code}
    if not error:
        ctx = await cart_ctx(request, cart=cart, added=added, coupon_added=coupon, **ctx)
    # Only the out-of-band regions change: the member panel (the request's target) stays as it is.
    return render(request, "counter/_scan.html", ctx, status_code=status, headers={"HX-Reswap": "none"})
