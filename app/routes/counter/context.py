"""What every counter view shares: the member panel's and the cart's context, the cart's answer to a change,
the counter page itself. The counter's route modules all build on it; it builds on none of them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, Response
from litestar.response import Template

from app.components import catalog, loyalty, members, sales, stock
from app.components.allergies import CRITICALITIES, REACTIONS, allergen_classes
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import (
    DISCOUNT_ROLES,
    PHARMACIST_ROLES,
    SALE_ROLES,
    STOCK_ROLES,
)
from app.i18n import _
from app.routes.render import go, render, wants_partial

PAGE = "counter/index.html"
CART_TEMPLATE = "counter/_cart.html"
SUMMARY_TEMPLATE = "counter/_checkout_summary.html"


def allergy_choices() -> dict:
    """The choices of the two-tap allergy entry."""
    classes = list(allergen_classes().values())
    return {
        "common_classes": [c for c in classes if c.common],
        "other_classes": [c for c in classes if not c.common],
        "criticalities": CRITICALITIES,
        "reactions": [r for r in REACTIONS if r],
    }


def member_ctx(member: members.MemberView | None, **extra: object) -> dict:
    """What the member panel needs: the member, the allergy entry's choices, what registration still lacks."""
    return {
        "member": member,
        "candidates": [],
        "code": "",
        "not_found": False,
        "gap_label": members.gap_label,
        "member_class_label": members.member_class_label,
        **allergy_choices(),
        **extra,
    }


def yuan_to_fen(text: str, field: str) -> int | None:
    """Yuan as typed ("12", "12.5", "¥12.50") → fen; blank → None; anything else → ValidationFailed on `field`."""
    cleaned = (text or "").strip().replace("¥", "").replace(",", "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed({field: _("Type an amount in yuan, e.g. 12.50.")}) from None
    if value < 0 or value != value.quantize(Decimal("0.01")) or value > 1_000_000:
        raise ValidationFailed({field: _("Type an amount in yuan, e.g. 12.50.")})
    return int(value * 100)


@dataclass
class Tendering:
    """What the checkout form says about payment."""

    kind: str = "cash"
    amount: str = ""
    points_amount: str = ""


def tenders_for(pay: Tendering, total: int | None) -> list[sales.TenderRequest]:
    """The tender requests for the form; a blank amount means "exactly what is due"."""
    kind = pay.kind if pay.kind in sales.TENDER_KINDS else "cash"
    points = yuan_to_fen(pay.points_amount, "points_amount") or 0
    amount = yuan_to_fen(pay.amount, "amount")
    if amount is None:
        amount = max(0, (total or 0) - points)
    out = []
    if points and kind != "points":
        out.append(sales.TenderRequest(kind="points", amount=points))
    if amount:  # nothing left to pay (points or coupons cover it) is no tender
        out.append(sales.TenderRequest(kind=kind, amount=amount))
    return out


async def _quote(cart: sales.CartView, actor: Any, pay: Tendering) -> tuple[Any, dict[str, str], dict[str, str]]:
    """The sale component's quote of the cart with the tenders being typed: (quote, cart errors, payment errors).

    Nothing is computed here: the first quote gives the total a blank amount stands for, the second the change.
    """
    if cart.is_empty:
        return None, {}, {}
    try:
        base = await sales.quote(sales.to_sale_request(cart), actor)
    except ValidationFailed as exc:
        return None, exc.errors, {}
    tenders: list[sales.TenderRequest] = []
    try:
        tenders = tenders_for(pay, base.total)
        return await sales.quote(sales.to_sale_request(cart, tenders), actor), {}, {}
    except ValidationFailed as exc:  # a mistyped amount: the cart is fine, the message goes next to the field
        # The quote names a tender by its place (`tenders.1.amount`, e.g. more cash than the sale can take).
        fields = {
            f"tenders.{i}.amount": "points_amount" if t.kind == "points" and pay.kind != "points" else "amount"
            for i, t in enumerate(tenders)
        }
        return base, {}, {fields.get(k, k): v for k, v in exc.errors.items()}


def change_key(request: Request) -> str | None:
    """The key the counter sent with a cart change (one per tap or scan, the same when the request is retried)."""
    return request.headers.get("idempotency-key")


def _tendering(cart: sales.CartView) -> Tendering:
    """What was tapped and typed for payment, as kept with the cart."""
    tender = cart.tender
    return Tendering(
        kind=str(tender.get("kind") or "cash"),
        amount=str(tender.get("amount") or ""),
        points_amount=str(tender.get("points_amount") or ""),
    )


async def _wallet(member_id: int | None) -> Any:
    """The member's points and coupons (the wallet macro in templates/_macros/counter.html)."""
    return await loyalty.wallet(member_id) if member_id is not None else None


async def cart_ctx(request: Request, cart: sales.CartView | None = None, **extra: Any) -> dict[str, Any]:
    """What the cart region needs: the cart, its quote, who may do what, the empty tender form."""
    actor = request.user
    cart = cart or await sales.current(actor)
    pay = extra.pop("pay", None) or _tendering(cart)
    quote, quote_errors, pay_errors = await _quote(cart, actor, pay)
    errors = {**pay_errors, **extra.pop("errors", {})}
    # When the quote refuses the cart (a product withdrawn meanwhile), still list the lines so they can be removed.
    unquoted = await catalog.products_by_ids(line.product_id for line in cart.lines) if quote_errors else {}
    return {
        "unquoted": [(line, unquoted.get(line.product_id)) for line in cart.lines] if quote_errors else [],
        "cart": cart,
        "quote": quote,
        "quote_errors": quote_errors,
        "pay": pay,
        "tender_kinds": sales.TENDER_KINDS,
        "tender_label": tender_label,
        "can_discount": actor.role in DISCOUNT_ROLES,
        "is_pharmacist": actor.role in PHARMACIST_ROLES,
        "is_manager": actor.role in STOCK_ROLES,
        "oversell_allowed": stock.oversell_allowed(),
        # The wallet shows with the coupons, under a cart with lines: a member scan on an empty cart skips it.
        "wallet": await _wallet(cart.member_id) if cart.lines else None,
        "held_count": await sales.held_count(actor.store_id),
        "device_name": sales.device_name(actor),
        "errors": errors,
        "message": "",
        **extra,
    }


def tender_label(kind: str) -> str:
    """A tender kind in the current language."""
    return {
        "cash": _("Cash"),
        "bank_card": _("Bank card"),
        "wechat": _("WeChat Pay"),
        "alipay": _("Alipay"),
        "insurance": _("Insurance card"),
        "points": _("Points"),
    }.get(kind, kind)


async def page_ctx(request: Request, **extra: Any) -> dict[str, Any]:
    """The whole counter page: the member panel (the cart's member, if any) and the cart."""
    for oob_only in ("clear_member", "search_done", "oob_member"):  # out-of-band swaps have no place in a page
        extra.pop(oob_only, None)
    ctx = await cart_ctx(request, **extra)
    member = None
    if ctx["cart"].member_no:
        try:
            member = await members.get_member(ctx["cart"].member_no, actor=request.user, detail="counter")
        except NotFound:
            member = None
    return {**member_ctx(member), **ctx, "sale_enabled": True}


async def cart_response(request: Request, status_code: int = 200, **extra: Any) -> Template:
    """The cart region for htmx, the whole counter for a plain form post."""
    if wants_partial(request):
        return render(request, CART_TEMPLATE, await cart_ctx(request, **extra), status_code=status_code)
    return render(request, PAGE, await page_ctx(request, **extra), status_code=status_code)


async def mutated(request: Request, action: Any, **extra: Any) -> Template:
    """Run a cart change; a bad input comes back as the cart with the message next to its field (422)."""
    try:
        cart = await action
    except ValidationFailed as exc:
        return await cart_response(request, status_code=422, errors=exc.errors, **extra)
    except NotFound as exc:
        return await cart_response(request, status_code=404, message=exc.message, **extra)
    return await cart_response(request, cart=cart, **extra)


async def panel_with_cart(request: Request, ctx: dict, status_code: int = 200) -> Template:
    """The member panel and, for a selling role, the cart out of band: what the member's allergies changed (or
    who the customer now is) is checked against the lines at once."""
    if request.user.role in SALE_ROLES and wants_partial(request):
        ctx = {**ctx, **await cart_ctx(request), "oob_cart": True}
    return render(request, PAGE, ctx, block="member_panel", status_code=status_code)


def to_sale(request: Request, sale_no: str) -> Response:
    """To a past sale's page (a receipt's barcode was scanned, or a number typed)."""
    return go(request, f"/counter/sales/{sale_no}")
