"""The counter sale: the scan field's products, the cart, checkout, receipt, guidance and refund slips, returns."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import File, Redirect, Template

from app.components import catalog, coupons, loyalty, members, sales, stock
from app.components.core import clock
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import DISCOUNT_ROLES, PHARMACIST_ROLES, RETURN_ROLES, SALE_ROLES, STOCK_ROLES
from app.components.scanning import BadScan, scanned_text
from app.i18n import _
from app.routes.counter import PAGE, member_ctx
from app.routes.devices import with_counter_device
from app.routes.guards import requires_role
from app.routes.params import RowId
from app.routes.render import FORM, render, wants_partial

# The cart belongs to the tablet as well as the person: every sale route knows the tablet it is asked from.
guard = [requires_role(SALE_ROLES), with_counter_device]
MULTIPART = Body(media_type=RequestEncodingType.MULTI_PART)
CART_TEMPLATE = "counter/_cart.html"
SUMMARY_TEMPLATE = "counter/_checkout_summary.html"
_PHONE_CHARS = re.compile(r"[\s\-()]")


# ---------------------------------------------------------------- helpers


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


def _fen(text: str, field: str) -> int | None:
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


def _tenders(pay: Tendering, total: int | None) -> list[sales.TenderRequest]:
    """The tender requests for the form; a blank amount means "exactly what is due"."""
    kind = pay.kind if pay.kind in sales.TENDER_KINDS else "cash"
    points = _fen(pay.points_amount, "points_amount") or 0
    amount = _fen(pay.amount, "amount")
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
        tenders = _tenders(pay, base.total)
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
    """The member's points and coupons (templates/counter/_wallet.html)."""
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


def sale_status_label(status: str) -> str:
    """A sale's status in the current language."""
    return {
        "completed": _("Completed"),
        "part_returned": _("Partly refunded"),
        "returned": _("Refunded"),
    }.get(status, status)


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


async def _cart_response(request: Request, status_code: int = 200, **extra: Any) -> Template:
    """The cart region for htmx, the whole counter for a plain form post."""
    if wants_partial(request):
        return render(request, CART_TEMPLATE, await cart_ctx(request, **extra), status_code=status_code)
    return render(request, PAGE, await page_ctx(request, **extra), status_code=status_code)


async def _mutated(request: Request, action: Any, **extra: Any) -> Template:
    """Run a cart change; a bad input comes back as the cart with the message next to its field (422)."""
    try:
        cart = await action
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=422, errors=exc.errors, **extra)
    except NotFound as exc:
        return await _cart_response(request, status_code=404, message=exc.message, **extra)
    return await _cart_response(request, cart=cart, **extra)


# ---------------------------------------------------------------- the scan field


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
            return _to_sale(request, sale_no)
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


# ---------------------------------------------------------------- cart routes


@get("/counter/cart", guards=guard)
async def cart_panel(request: Request) -> Template:
    """The cart region (the whole counter on reload)."""
    return await _cart_response(request)


@get("/counter/products/search", guards=guard)
async def product_search(request: Request, q: FromQuery[str] = "") -> Template:
    """Search-as-you-type: products by name, generic name, ATC prefix or code, as buttons that add a line."""
    found = await catalog.search(q, limit=12) if q.strip() else []
    return Template(
        template_name="counter/_search.html",
        context={"products": found, "q": q},
        headers={"Vary": "HX-Request"},
    )


@dataclass
class AddForm:
    """A product picked from the search results."""

    sku: str = ""


@post("/counter/cart/lines", guards=guard)
async def add_line(request: Request, data: Annotated[AddForm, FORM]) -> Template:
    """Add one unit of a product chosen from the search results."""
    try:
        product = await catalog.get_product(data.sku)
    except NotFound as exc:
        return await _cart_response(request, status_code=404, message=exc.message)
    return await _mutated(
        request, sales.add_product(request.user, product.id, key=change_key(request)), search_done=True
    )


@dataclass
class QtyForm:
    """The +/− buttons (delta) or a typed quantity."""

    delta: str = ""
    qty: str = ""


@post("/counter/cart/lines/{product_id:int}/qty", guards=guard)
async def line_qty(request: Request, product_id: RowId, data: Annotated[QtyForm, FORM]) -> Template:
    """Change a line's quantity."""
    text = data.qty.strip() or data.delta.strip()
    if not re.fullmatch(r"[+-]?\d{1,4}", text):
        return await _cart_response(request, status_code=422, errors={f"qty-{product_id}": _("Type a whole number.")})
    key = change_key(request)
    if data.qty.strip():
        return await _mutated(request, sales.set_qty(request.user, product_id, int(text), key=key))
    return await _mutated(request, sales.change_qty(request.user, product_id, int(text), key=key))


@post("/counter/cart/lines/{product_id:int}/remove", guards=guard)
async def line_remove(request: Request, product_id: RowId) -> Template:
    """Take a product out of the cart."""
    return await _mutated(request, sales.remove_line(request.user, product_id, key=change_key(request)))


@dataclass
class DiscountForm:
    """A line discount in yuan."""

    line_discount: str = ""


@post("/counter/cart/lines/{product_id:int}/discount", guards=[requires_role(DISCOUNT_ROLES), with_counter_device])
async def line_discount(request: Request, product_id: RowId, data: Annotated[DiscountForm, FORM]) -> Template:
    """A pharmacist's discount on one line (the quote refuses one larger than the line)."""
    field = f"discount-{product_id}"
    try:
        fen = _fen(data.line_discount, field) or 0
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=422, errors=exc.errors)
    return await _mutated(request, sales.set_line_discount(request.user, product_id, fen, key=change_key(request)))


@post("/counter/cart/member/remove", guards=guard)
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


@post("/counter/cart/switch", guards=guard)
async def member_switch(request: Request, data: Annotated[SwitchForm, FORM]) -> Template:
    """Another member's card was scanned while the cart held its member's lines: a new sale for them (this one
    held), the lines moved to them (checked again against their allergies), or the sale kept as it is."""
    try:
        cart = await sales.answer_switch(request.user, data.choice, data.cart_key, key=change_key(request))
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=409, errors=exc.errors)
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    member = None
    if cart.member_no:
        member = await members.get_member(cart.member_no, actor=request.user, detail="counter")
    ctx = await cart_ctx(request, cart=cart, oob_member=True, **member_ctx(member, code=cart.member_no or ""))
    return render(request, CART_TEMPLATE, ctx)


@post("/counter/cart/park", guards=guard)
async def cart_park(request: Request) -> Template:
    """Hold the sale (it waits in the store's held sales) and start a fresh one; the member panel is cleared."""
    cart = await sales.park(request.user, key=change_key(request))
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    return render(request, CART_TEMPLATE, await cart_ctx(request, cart=cart, clear_member=True, parked=True))


@get("/counter/held", guards=guard)
async def held_list(request: Request) -> Template:
    """The store's held sales: who parked each, when, for whom, what and how much; a tap resumes one here."""
    return render(request, "counter/held.html", {"held": await sales.held_sales(request.user), "errors": {}})


@post("/counter/held/{cart_id:int}/resume", guards=guard)
async def held_resume(request: Request, cart_id: RowId) -> Response | Template:
    """Take a held sale back to this tablet (what is open here is held in its place) and show the counter."""
    try:
        await sales.resume(request.user, cart_id, key=change_key(request))
    except (ValidationFailed, NotFound) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else {"resume": exc.message}
        ctx = {"held": await sales.held_sales(request.user), "errors": errors}
        return render(request, "counter/held.html", ctx, block="held_list", status_code=409)
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=200, headers={"HX-Redirect": "/counter"})
    return Redirect("/counter", status_code=303)


@dataclass
class CouponForm:
    """A coupon code typed, scanned or tapped in the wallet."""

    code: str = ""


@post("/counter/cart/coupons", guards=guard)
async def coupon_add(request: Request, data: Annotated[CouponForm, FORM]) -> Template:
    """Put a coupon on the cart; the quote says whether and how much it takes off."""
    return await _mutated(
        request, sales.add_coupon(request.user, data.code, key=change_key(request)), coupon_code=data.code
    )


@post("/counter/cart/coupons/remove", guards=guard)
async def coupon_remove(request: Request, data: Annotated[CouponForm, FORM]) -> Template:
    """Take a coupon off the cart."""
    return await _mutated(request, sales.remove_coupon(request.user, data.code, key=change_key(request)))


async def _prescription_form(request: Request, data: dict[str, Any]) -> tuple[dict[str, str], str | None, dict]:
    """The prescription typed in a form (number, hospital, optional photo, saved when the reference is usable):
    (typed values, photo name or None, field errors)."""
    number = str(data.get("rx_number") or "")
    hospital = str(data.get("rx_hospital") or "")
    upload = data.get("rx_image")
    errors = sales.prescription_errors(number, hospital)
    image = None
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            content = await upload.read(sales.RX_IMAGE_MAX_BYTES + 1)
        finally:
            await upload.close()
        try:
            if not errors:  # a photo is kept only with a usable reference
                image = sales.save_rx_image(request.user, content, upload.content_type)
            else:
                sales.check_rx_image(content, upload.content_type)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    return {"number": number, "hospital": hospital}, image, errors


@post("/counter/cart/prescription", guards=guard)
async def prescription(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Template:
    """The prescription of the Rx lines: number, issuing hospital and an optional photo."""
    rx_form, image, errors = await _prescription_form(request, data)
    if errors:
        return await _cart_response(request, status_code=422, errors=errors, rx_form=rx_form)
    return await _mutated(request, sales.set_prescription(request.user, rx_form["number"], rx_form["hospital"], image))


@dataclass
class PinForm:
    """An approval: the approver's own login, or (at another's counter) the approver's username and PIN; the
    override's reason; `products`, the cart's product ids as the approver saw them (comma-separated)."""

    username: str = ""
    pin: str = ""
    reason: str = ""
    products: str = ""


async def _approver(request: Request, data: PinForm, roles: frozenset[str] = PHARMACIST_ROLES) -> sales.Approver:
    """The approver: the logged-in user when their role may approve (one tap, no PIN), else the one whose username
    and PIN were typed (`sales.verify_pin`: locked after repeated wrong tries, every failure audited)."""
    user = request.user
    if user.role in roles:
        return sales.Approver(id=user.id, display_name=user.display_name, role=user.role)
    if not data.username.strip():
        if roles == STOCK_ROLES:
            raise ValidationFailed({"username": _("A store manager must approve: their username and PIN.")})
        raise ValidationFailed({"username": _("A pharmacist must approve: their username and PIN.")})
    return await sales.verify_pin(user, data.username, data.pin, roles)


def _seen_products(text: str) -> list[int] | None:
    """The product ids an approval form showed (None when the form does not say)."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) > 200 or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise ValidationFailed({"approve": _("The approval form is out of date: reload the counter.")})
    return [int(p) for p in parts]


async def _approve(request: Request, data: PinForm, parts: tuple[str, ...], **keep: Any) -> Template:
    """Approve `parts` of what waits for a pharmacist ("allergy_override", "rx_verified"; empty: all of it) with
    one approval, each recorded on its own; the form's input comes back with any error."""
    try:
        cart, pending = await sales.pharmacist_pending(request.user)
        wanted = tuple(p for p in pending if not parts or p in parts)
        if not wanted:
            raise ValidationFailed({"approve": _("Nothing is waiting for a pharmacist's approval.")})
        errors: dict[str, str] = {}
        if "allergy_override" in wanted:
            errors.update(sales.override_reason_errors(data.reason))
        if "rx_verified" in wanted and not cart.prescription.get("number"):
            errors["rx_number"] = _("Enter the prescription before it is verified.")
        if errors:  # before the PIN: a form that cannot pass uses up no try
            raise ValidationFailed(errors)
        approver = await _approver(request, data)
        cart = await sales.approve(
            request.user,
            approver.id,
            approver.display_name,
            reason=data.reason if "allergy_override" in wanted else None,
            verify_rx="rx_verified" in wanted,
            products=_seen_products(data.products),
        )
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=422, errors=exc.errors, **keep)
    return await _cart_response(request, cart=cart)


@post("/counter/cart/approve", guards=guard)
async def approve_pending(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Template:
    """Everything waiting for a pharmacist with one approval: their one tap when logged in, else one PIN entry
    (with the override's reason, and a prescription typed in the same form saved first)."""
    form = PinForm(**{k: str(data.get(k) or "") for k in ("username", "pin", "reason", "products")})
    keep: dict[str, Any] = {"approve_form": form}
    if "rx_number" in data or "rx_hospital" in data:
        rx_form, image, errors = await _prescription_form(request, data)
        keep["rx_form"] = rx_form
        if errors:
            return await _cart_response(request, status_code=422, errors=errors, **keep)
        try:
            await sales.set_prescription(request.user, rx_form["number"], rx_form["hospital"], image)
        except ValidationFailed as exc:
            return await _cart_response(request, status_code=422, errors=exc.errors, **keep)
    return await _approve(request, form, (), **keep)


@post("/counter/cart/prescription/verify", guards=guard)
async def prescription_verify(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """A pharmacist verifies the prescription against the Rx lines before payment (alone; see approve_pending)."""
    return await _approve(request, data, ("rx_verified",), approve_form=data)


@get("/counter/rx/{name:str}", guards=guard)
async def prescription_image(request: Request, name: FromPath[str]) -> File:
    """A prescription photo, to the selling staff of the store it was taken in only."""
    path = sales.rx_image_path(request.user, name)
    return File(path=path, content_disposition_type="inline", headers={"Cache-Control": "private, no-store"})


@post("/counter/cart/override", guards=guard)
async def override(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """Override the high allergy alerts with a reason (a clerk needs a pharmacist's PIN); audited with the sale."""
    return await _approve(request, data, ("allergy_override",), approve_form=data)


@dataclass
class AckForm:
    """The allergen class of the line's warning being acknowledged."""

    allergen_class: str = ""


@post("/counter/cart/lines/{product_id:int}/acknowledge", guards=guard)
async def acknowledge(request: Request, product_id: RowId, data: Annotated[AckForm, FORM]) -> Template:
    """One tap: the allergy warning on a line is read (who and when are kept with the sale)."""
    return await _mutated(request, sales.acknowledge(request.user, product_id, data.allergen_class))


@post("/counter/cart/oversell", guards=guard)
async def oversell(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """Sell beyond recorded stock: a store manager approves (their login, or their username and PIN)."""
    try:
        approver = await _approver(request, data, STOCK_ROLES)
        cart = await sales.approve_oversell(request.user, approver.id, approver.display_name)
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=422, errors=exc.errors, oversell_form=data)
    return await _cart_response(request, cart=cart)


@post("/counter/cart/override/remove", guards=guard)
async def override_remove(request: Request) -> Template:
    """Withdraw an allergy override."""
    return await _mutated(request, sales.clear_override(request.user))


@post("/counter/cart/clear", guards=guard)
async def cart_clear(request: Request) -> Template:
    """Start over: the open cart is abandoned, nothing is sold."""
    await sales.abandon(request.user)
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    return render(request, CART_TEMPLATE, await cart_ctx(request, clear_member=True, **member_ctx(None)))


# ---------------------------------------------------------------- checkout


@get("/counter/checkout", guards=guard)
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


@post("/counter/cart/tender", guards=guard)
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


def _go(request: Request, url: str) -> Response:
    """Another page: htmx follows HX-Redirect, a plain form post the 303."""
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def _to_sale(request: Request, sale_no: str) -> Response:
    return _go(request, f"/counter/sales/{sale_no}")


def _to_receipt(request: Request, sale_no: str) -> Response:
    return _go(request, f"/counter/sales/{sale_no}/receipt")


@post("/counter/checkout", guards=guard)
async def checkout(request: Request, data: Annotated[CheckoutForm, FORM]) -> Response | Template:
    """Record the sale once for the cart's key: a double tap or a replay shows the same receipt."""
    pay = Tendering(kind=data.kind, amount=data.amount, points_amount=data.points_amount)
    try:
        cart = await sales.by_key(data.key.strip(), request.user)
    except NotFound as exc:
        return await _cart_response(request, status_code=404, message=exc.message, pay=pay)
    done = await sales.sale_no_of(cart)
    if done:
        await sales.close(cart)
        return _to_receipt(request, done)
    if cart.status == "parked":
        return await _cart_response(
            request, status_code=409, message=_("This sale was put aside: resume it from the held sales."), pay=pay
        )
    if cart.status != "open":
        return await _cart_response(
            request, status_code=409, message=_("This cart was given up. Scan the products again."), pay=pay
        )
    if cart.pending_member_id is not None:
        return await _cart_response(
            request,
            status_code=409,
            message=_("Another member's card was scanned: say whom this sale is for."),
            pay=pay,
        )
    try:
        quoted = await sales.quote(sales.to_sale_request(cart), request.user)
        result = await sales.record_sale(sales.to_sale_request(cart, _tenders(pay, quoted.total)), request.user)
    except sales.AllergyBlocked as blocked:
        return await _cart_response(
            request,
            status_code=409,
            message=_("A high allergy alert blocks this sale: a pharmacist must override it with a reason.")
            if blocked.conflicts
            else _("An allergy warning must be acknowledged on its line before payment."),
            pay=pay,
        )
    except ValidationFailed as exc:
        return await _cart_response(request, status_code=422, errors=exc.errors, pay=pay)
    except sales.NotPermitted as exc:
        return await _cart_response(request, status_code=403, message=exc.message, pay=pay)
    await sales.close(cart)
    return _to_receipt(request, result.sale.sale_no)


# ---------------------------------------------------------------- after the sale

SALES_LIST_LIMIT = 100


def _print_ctx(asked: str, offered: tuple[str, ...], default: str) -> dict[str, Any]:
    """The paper a print page lays out for: the page's toggle when it names one offered, else the chain's."""
    paper = asked if asked in offered else default
    return {"paper": paper, "papers": offered, "paper_label": sales.paper_label}


async def _points_balance(member_id: int | None) -> int | None:
    return await loyalty.balance(member_id) if member_id is not None else None


@get("/counter/sales/{sale_no:str}/receipt", guards=guard)
async def receipt(
    request: Request, sale_no: FromPath[str], paper: FromQuery[str] = "", reprint: FromQuery[str] = ""
) -> Template:
    """The printable receipt of a sale of this store: its Code 128 sale number (scan it to find the sale again)
    and, once refunded, every refund and what is still paid. `paper` 58 | 80 overrides the chain's roll."""
    sale = await sales.get_sale(sale_no, request.user)
    settings = await sales.counter_settings()
    ctx = {
        "sale": sale,
        "phone_masked": sale.member_phone_masked,
        "points_balance": await _points_balance(sale.member_id),
        "tender_label": tender_label,
        "barcode": members.barcode_svg(sale.sale_no, module_width=0.25, quiet_zone=2.5),
        "reprint": reprint == "1" or bool(sale.returns),
        "printed_at": datetime.now(UTC),
        **_print_ctx(paper, sales.RECEIPT_PAPERS, settings.receipt_paper),
    }
    return render(request, "counter/receipt.html", ctx)


@get("/counter/sales/{sale_no:str}/guidance", guards=guard)
async def guidance_page(request: Request, sale_no: FromPath[str], paper: FromQuery[str] = "") -> Template:
    """The medication guidance slip, personalised: each medicine's counselling points, the member's relevant
    allergies and any override beside the contraindication it contradicts (reading them is audited), the
    pharmacist and the store's phone. `paper` 58 | 80 | a4 overrides the chain's."""
    slip = await sales.guidance_slip(sale_no, request.user)
    settings = await sales.counter_settings()
    ctx = {
        "sale": slip.sale,
        "slip": slip,
        "items": slip.items,
        **_print_ctx(paper, sales.SLIP_PAPERS, settings.slip_paper),
    }
    return render(request, "counter/guidance.html", ctx)


@get("/counter/sales/{sale_no:str}/returns/{return_no:str}/slip", guards=guard)
async def refund_slip(
    request: Request, sale_no: FromPath[str], return_no: FromPath[str], paper: FromQuery[str] = ""
) -> Template:
    """The printable refund slip of one return: sale and return numbers, lines, the money per tender, reason,
    staff and store. `paper` 58 | 80 | a4 overrides the chain's slip paper."""
    sale = await sales.get_sale(sale_no, request.user)
    wanted = sales.normalize_number(return_no)
    ret = next((r for r in sale.returns if r.return_no == wanted), None)
    if ret is None:
        raise NotFound(_("Sale %(sale)s has no return %(no)s.") % {"sale": sale.sale_no, "no": return_no})
    settings = await sales.counter_settings()
    ctx = {
        "sale": sale,
        "ret": ret,
        "lines": {line.line_no: line for line in sale.lines},
        "tender_label": tender_label,
        **_print_ctx(paper, sales.SLIP_PAPERS, settings.slip_paper),
    }
    return render(request, "counter/refund_slip.html", ctx)


@get("/counter/sales", guards=guard)
async def sales_today(request: Request, q: FromQuery[str] = "", date: FromQuery[str] = "") -> Response | Template:
    """The store's sales of a day (today by default; a date back to SALE_SEARCH_DAYS), newest first, or those whose
    number contains `q`. A whole sale or return number — typed, or scanned from a receipt's barcode or a refund
    slip — opens that sale at once."""
    user = request.user
    store_id = user.store_id
    today = clock.store_today()
    errors: dict[str, str] = {}
    on_date: Any = today
    if store_id and q.strip():
        found_no = await sales.sale_no_for(store_id, q)
        if found_no:
            return Redirect(f"/counter/sales/{found_no}", status_code=303)
        on_date = None  # a part of a number: any day, unless a day is picked too
    if date.strip():
        try:
            on_date = sales.sales_date(date, today)
        except ValidationFailed as exc:
            errors, on_date = exc.errors, None
    found = (
        await sales.recent_sales(store_id, limit=SALES_LIST_LIMIT + 1, on_date=on_date, number=q)
        if store_id and not errors
        else []
    )
    ctx = {
        "sales": found[:SALES_LIST_LIMIT],
        "more": len(found) > SALES_LIST_LIMIT,
        "sale_status_label": sale_status_label,
        "q": q.strip(),
        "date": date.strip() if errors else (on_date.isoformat() if on_date else ""),
        "on_date": on_date,
        "today": today,
        "yesterday": today - timedelta(days=1),
        "earliest": today - timedelta(days=sales.SALE_SEARCH_DAYS),
        "errors": errors,
    }
    status = 422 if errors else (404 if q.strip() and not found else 200)
    return render(request, "counter/sales.html", ctx, status_code=status)


def refundable(sale: Any) -> list[dict[str, Any]]:
    """Per tender kind of the sale, in the order refunds fill them: paid, refunded so far, still refundable."""
    net = sales.tender_net(sale)
    taken: dict[str, int] = {}
    for ret in sale.returns:
        for part in ret.tenders:
            taken[part.original_kind] = taken.get(part.original_kind, 0) + part.amount
    order = [k for k in sales.REFUND_ORDER if k in net] + sorted(set(net) - set(sales.REFUND_ORDER))
    return [{"kind": k, "paid": net[k], "refunded": taken.get(k, 0), "left": net[k] - taken.get(k, 0)} for k in order]


async def _sale_ctx(request: Request, sale: Any, **extra: Any) -> dict[str, Any]:
    user = request.user
    settings = await sales.counter_settings()
    restricted = [line for line in sale.lines if line.returnable > 0 and line.restriction]
    refuse = settings.restricted_returns == sales.REFUSE
    return {
        "sale": sale,
        "can_return": user.role in RETURN_ROLES,
        "return_key": uuid.uuid4().hex,
        "tender_label": tender_label,
        "restriction_label": sales.restriction_label,
        "refuse_restricted": refuse,
        "needs_approval": bool(restricted) and not refuse and user.role not in sales.RETURN_APPROVER_ROLES,
        "refundable": refundable(sale),
        "other_refund_kinds": sales.OTHER_REFUND_KINDS,
        "errors": {},
        "form": {},
        **extra,
    }


@get("/counter/sales/{sale_no:str}", guards=guard)
async def sale_page(request: Request, sale_no: FromPath[str]) -> Template:
    """A past sale, the returns so far (each with its refund slip) and, for roles that may refund, the return form."""
    sale = await sales.get_sale(sale_no, request.user)
    return render(request, "counter/sale.html", await _sale_ctx(request, sale), block="sale_body")


# The sale component's field names → the return form's.
_RETURN_FIELDS = {"approver": "username", "refund_kind": "refund_to"}


@post("/counter/sales/{sale_no:str}/returns", guards=[requires_role(RETURN_ROLES)])
async def sale_return(request: Request, sale_no: FromPath[str], data: Annotated[dict[str, str], FORM]) -> Template:
    """Refund the whole sale or some units of its lines, with a reason; the form's key makes a retry one refund.

    The money goes back to the sale's tenders unless another tender is chosen with a reason; dispensed Rx,
    antibiotic and cold-chain lines need a store manager's username and PIN (or are refused), as the chain says.
    """
    sale = await sales.get_sale(sale_no, request.user)
    key = str(data.get("key") or "").strip()
    reason = str(data.get("reason") or "")
    refund_to = str(data.get("refund_to") or "original").strip()
    errors: dict[str, str] = {}
    lines: list[tuple[int, int]] | None = None
    if data.get("scope") != "all":
        lines = []
        for line in sale.lines:
            raw = str(data.get(f"qty-{line.line_no}") or "").strip()
            if not raw:
                continue
            if not raw.isdigit() or len(raw) > 4:
                errors[f"qty-{line.line_no}"] = _("Type a whole number.")
            elif int(raw):
                lines.append((line.line_no, int(raw)))
        if not lines and not errors:
            errors["lines"] = _("Choose what comes back: the whole sale or a quantity on a line.")
    if not key:
        errors["key"] = _("The form has expired. Reload the page and try again.")
    if not errors:
        try:
            result = await sales.return_sale(
                sales.ReturnRequest(
                    idempotency_key=key,
                    sale_no=sale.sale_no,
                    lines=lines,
                    reason=reason,
                    refund_kind="" if refund_to == "original" else refund_to,
                    refund_reason=str(data.get("refund_reason") or ""),
                    approver_username=str(data.get("username") or ""),
                    approver_pin=str(data.get("pin") or ""),
                ),
                request.user,
            )
        except ValidationFailed as exc:  # what may still come back is the sale component's rule
            errors = {
                _RETURN_FIELDS.get(field, re.sub(r"^lines\.(\d+)$", r"qty-\1", field)): text
                for field, text in exc.errors.items()
            }
        except sales.NotPermitted as exc:
            errors = {"reason": exc.message}
        else:
            ctx = await _sale_ctx(request, result.sale, returned=result.ret)
            return render(request, "counter/sale.html", ctx, block="sale_body")
    form = {k: v for k, v in data.items() if k != "pin"}  # a PIN is never sent back
    ctx = await _sale_ctx(request, sale, errors=errors, form=form, return_key=key or uuid.uuid4().hex)
    return render(request, "counter/sale.html", ctx, block="sale_body", status_code=422)


ROUTES = [
    cart_panel,
    product_search,
    add_line,
    line_qty,
    line_remove,
    line_discount,
    member_remove,
    member_switch,
    cart_park,
    held_list,
    held_resume,
    coupon_add,
    coupon_remove,
    prescription,
    approve_pending,
    prescription_verify,
    prescription_image,
    override,
    acknowledge,
    oversell,
    override_remove,
    cart_clear,
    checkout_preview,
    tender,
    checkout,
    receipt,
    guidance_page,
    refund_slip,
    sales_today,
    sale_page,
    sale_return,
]
