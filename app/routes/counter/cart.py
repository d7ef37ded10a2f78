"""The cart at the counter: lines, quantities, discounts, coupons, the member on it, starting over."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.components import catalog, members, sales
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import (
    DISCOUNT_ROLES,
    SALE_ROLES,
)
from app.i18n import _
from app.routes.counter.context import (
    CART_TEMPLATE,
    PAGE,
    cart_ctx,
    cart_response,
    change_key,
    member_ctx,
    mutated,
    page_ctx,
    yuan_to_fen,
)
from app.routes.guards import requires_role
from app.routes.params import RowId
from app.routes.render import FORM, render, wants_partial

# The cart belongs to the tablet as well as the person: the counter router gives every route the tablet it is
# asked from.
guard = [requires_role(SALE_ROLES)]


@get("/cart", guards=guard)
async def cart_panel(request: Request) -> Template:
    """The cart region (the whole counter on reload)."""
    return await cart_response(request)


@get("/products/search", guards=guard)
async def product_search(request: Request, q: FromQuery[str] = "") -> Template:
    """Search-as-you-type: products by name, generic name, ATC prefix or code, as buttons that add a line."""
    found = await catalog.search(q, limit=12) if q.strip() else []
    return render(request, "counter/_search.html", {"products": found, "q": q})


@dataclass
class AddForm:
    """A product picked from the search results."""

    sku: str = ""


@post("/cart/lines", guards=guard)
async def add_line(request: Request, data: Annotated[AddForm, FORM]) -> Template:
    """Add one unit of a product chosen from the search results."""
    try:
        product = await catalog.get_product(data.sku)
    except NotFound as exc:
        return await cart_response(request, status_code=404, message=exc.message)
    return await mutated(
        request, sales.add_product(request.user, product.id, key=change_key(request)), search_done=True
    )


@dataclass
class QtyForm:
    """The +/− buttons (delta) or a typed quantity."""

    delta: str = ""
    qty: str = ""


@post("/cart/lines/{product_id:int}/qty", guards=guard)
async def line_qty(request: Request, product_id: RowId, data: Annotated[QtyForm, FORM]) -> Template:
    """Change a line's quantity."""
    text = data.qty.strip() or data.delta.strip()
    if not re.fullmatch(r"[+-]?\d{1,4}", text):
        return await cart_response(request, status_code=422, errors={f"qty-{product_id}": _("Type a whole number.")})
    key = change_key(request)
    if data.qty.strip():
        return await mutated(request, sales.set_qty(request.user, product_id, int(text), key=key))
    return await mutated(request, sales.change_qty(request.user, product_id, int(text), key=key))


@post("/cart/lines/{product_id:int}/remove", guards=guard)
async def line_remove(request: Request, product_id: RowId) -> Template:
    """Take a product out of the cart."""
    return await mutated(request, sales.remove_line(request.user, product_id, key=change_key(request)))


@dataclass
class DiscountForm:
    """A line discount in yuan."""

    line_discount: str = ""


@post("/cart/lines/{product_id:int}/discount", guards=[requires_role(DISCOUNT_ROLES)])
async def line_discount(request: Request, product_id: RowId, data: Annotated[DiscountForm, FORM]) -> Template:
    """A pharmacist's discount on one line (the quote refuses one larger than the line)."""
    field = f"discount-{product_id}"
    try:
        fen = yuan_to_fen(data.line_discount, field) or 0
    except ValidationFailed as exc:
        return await cart_response(request, status_code=422, errors=exc.errors)
    return await mutated(request, sales.set_line_discount(request.user, product_id, fen, key=change_key(request)))


@post("/cart/member/remove", guards=guard)
async def member_remove(request: Request) -> Template:
    """Sell without a member (walk-in): the member comes off the cart and the panel is cleared."""
    cart = await sales.to_walk_in(request.user, key=change_key(request))
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    ctx = await cart_ctx(request, cart=cart, clear_member=True, **member_ctx(None))
    return render(request, CART_TEMPLATE, ctx)


@dataclass
class SwitchForm:
    """The answer to "whom is this sale for?": new, move or keep, for the cart it was asked on."""

    choice: str = ""
    cart_key: str = ""


@post("/cart/switch", guards=guard)
async def member_switch(request: Request, data: Annotated[SwitchForm, FORM]) -> Template:
    """Another member's card was scanned while the cart held its member's lines: a new sale for them (this one
    held), the lines moved to them (checked again against their allergies), or the sale kept as it is."""
    try:
        cart = await sales.answer_switch(request.user, data.choice, data.cart_key, key=change_key(request))
    except ValidationFailed as exc:
        return await cart_response(request, status_code=409, errors=exc.errors)
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    member = None
    if cart.member_no:
        member = await members.get_member(cart.member_no, actor=request.user, detail="counter")
    ctx = await cart_ctx(request, cart=cart, oob_member=True, **member_ctx(member, code=cart.member_no or ""))
    return render(request, CART_TEMPLATE, ctx)


@dataclass
class CouponForm:
    """A coupon code typed, scanned or tapped in the wallet."""

    code: str = ""


@post("/cart/coupons", guards=guard)
async def coupon_add(request: Request, data: Annotated[CouponForm, FORM]) -> Template:
    """Put a coupon on the cart; the quote says whether and how much it takes off."""
    return await mutated(
        request, sales.add_coupon(request.user, data.code, key=change_key(request)), coupon_code=data.code
    )


@post("/cart/coupons/remove", guards=guard)
async def coupon_remove(request: Request, data: Annotated[CouponForm, FORM]) -> Template:
    """Take a coupon off the cart."""
    return await mutated(request, sales.remove_coupon(request.user, data.code, key=change_key(request)))


@post("/cart/clear", guards=guard)
async def cart_clear(request: Request) -> Template:
    """Start over: the open cart is abandoned, nothing is sold."""
    await sales.abandon(request.user)
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    return render(request, CART_TEMPLATE, await cart_ctx(request, clear_member=True, **member_ctx(None)))


ROUTES = [
    cart_panel,
    product_search,
    add_line,
    line_qty,
    line_remove,
    line_discount,
    member_remove,
    member_switch,
    coupon_add,
    coupon_remove,
    cart_clear,
]
