"""Checkout: the tenders being typed (quoted as they change) and recording the sale once for the cart's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.components import sales
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import (
    SALE_ROLES,
)
from app.i18n import _
from app.routes.counter.context import (
    SUMMARY_TEMPLATE,
    Tendering,
    cart_ctx,
    cart_response,
    change_key,
    tenders_for,
)
from app.routes.guards import requires_role
from app.routes.render import FORM, go, render

guard = [requires_role(SALE_ROLES)]


@get("/checkout", guards=guard)
async def checkout_preview(
    request: Request, kind: FromQuery[str] = "cash", amount: FromQuery[str] = "", points_amount: FromQuery[str] = ""
) -> Template:
    """The payment part of the cart again, quoted with the tenders being typed (change, what is still due)."""
    pay = Tendering(kind=kind, amount=amount, points_amount=points_amount)
    ctx = await cart_ctx(request, pay=pay)
    return render(request, SUMMARY_TEMPLATE, ctx, status_code=422 if ctx["errors"] else 200)


@dataclass
class TenderForm:
    """The tender tapped and the amounts typed (the checkout form, sent as it changes)."""

    kind: str = "cash"
    amount: str = ""
    points_amount: str = ""


@post("/cart/tender", guards=guard)
async def tender(request: Request, data: Annotated[TenderForm, FORM]) -> Template:
    """Keep the tender and amounts with the cart, so no later change of the cart resets them; the payment summary
    comes back quoted with them (change, what is still due)."""
    cart = await sales.set_tender(request.user, data.kind, data.amount, data.points_amount, key=change_key(request))
    ctx = await cart_ctx(request, cart=cart)
    return render(request, SUMMARY_TEMPLATE, ctx, status_code=422 if ctx["errors"] else 200)


@dataclass
class CheckoutForm:
    """Pay: the cart's key (the sale's idempotency key) and the tenders."""

    key: str = ""
    kind: str = "cash"
    amount: str = ""
    points_amount: str = ""


def to_receipt(request: Request, sale_no: str) -> Response:
    return go(request, f"/counter/sales/{sale_no}/receipt")


@post("/checkout", guards=guard)
async def checkout(request: Request, data: Annotated[CheckoutForm, FORM]) -> Response | Template:
    """Record the sale once for the cart's key: a double tap or a replay shows the same receipt."""
    pay = Tendering(kind=data.kind, amount=data.amount, points_amount=data.points_amount)
    try:
        cart = await sales.by_key(data.key.strip(), request.user)
    except NotFound as exc:
        return await cart_response(request, status_code=404, message=exc.message, pay=pay)
    done = await sales.sale_no_of(cart)
    if done:
        await sales.close(cart)
        return to_receipt(request, done)
    if cart.status == "parked":
        return await cart_response(
            request, status_code=409, message=_("This sale was put aside: resume it from the held sales."), pay=pay
        )
    if cart.status != "open":
        return await cart_response(
            request, status_code=409, message=_("This cart was given up. Scan the products again."), pay=pay
        )
    if cart.pending_member_id is not None:
        return await cart_response(
            request,
            status_code=409,
            message=_("Another member's card was scanned: say whom this sale is for."),
            pay=pay,
        )
    try:
        quoted = await sales.quote(sales.to_sale_request(cart), request.user)
        result = await sales.record_sale(sales.to_sale_request(cart, tenders_for(pay, quoted.total)), request.user)
    except sales.AllergyBlocked as blocked:
        return await cart_response(
            request,
            status_code=409,
            message=_("A high allergy alert blocks this sale: a pharmacist must override it with a reason.")
            if blocked.conflicts
            else _("An allergy warning must be acknowledged on its line before payment."),
            pay=pay,
        )
    except ValidationFailed as exc:
        return await cart_response(request, status_code=422, errors=exc.errors, pay=pay)
    except sales.NotPermitted as exc:
        return await cart_response(request, status_code=403, message=exc.message, pay=pay)
    await sales.close(cart)
    return to_receipt(request, result.sale.sale_no)


ROUTES = [checkout_preview, tender, checkout]
