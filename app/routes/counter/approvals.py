"""What waits for a pharmacist or a store manager: the prescription, allergy overrides, warnings read,
selling beyond stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import File, Template

from app.components import sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import (
    PHARMACIST_ROLES,
    SALE_ROLES,
    STOCK_ROLES,
)
from app.i18n import _
from app.routes.counter.context import cart_response, mutated
from app.routes.guards import requires_role
from app.routes.params import RowId
from app.routes.render import FORM

guard = [requires_role(SALE_ROLES)]


MULTIPART = Body(media_type=RequestEncodingType.MULTI_PART)


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


@post("/cart/prescription", guards=guard)
async def prescription(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Template:
    """The prescription of the Rx lines: number, issuing hospital and an optional photo."""
    rx_form, image, errors = await _prescription_form(request, data)
    if errors:
        return await cart_response(request, status_code=422, errors=errors, rx_form=rx_form)
    return await mutated(request, sales.set_prescription(request.user, rx_form["number"], rx_form["hospital"], image))


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
        return await cart_response(request, status_code=422, errors=exc.errors, **keep)
    return await cart_response(request, cart=cart)


@post("/cart/approve", guards=guard)
async def approve_pending(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Template:
    """Everything waiting for a pharmacist with one approval: their one tap when logged in, else one PIN entry
    (with the override's reason, and a prescription typed in the same form saved first)."""
    form = PinForm(**{k: str(data.get(k) or "") for k in ("username", "pin", "reason", "products")})
    keep: dict[str, Any] = {"approve_form": form}
    if "rx_number" in data or "rx_hospital" in data:
        rx_form, image, errors = await _prescription_form(request, data)
        keep["rx_form"] = rx_form
        if errors:
            return await cart_response(request, status_code=422, errors=errors, **keep)
        try:
            await sales.set_prescription(request.user, rx_form["number"], rx_form["hospital"], image)
        except ValidationFailed as exc:
            return await cart_response(request, status_code=422, errors=exc.errors, **keep)
    return await _approve(request, form, (), **keep)


@post("/cart/prescription/verify", guards=guard)
async def prescription_verify(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """A pharmacist verifies the prescription against the Rx lines before payment (alone; see approve_pending)."""
    return await _approve(request, data, ("rx_verified",), approve_form=data)


@get("/rx/{name:str}", guards=guard)
async def prescription_image(request: Request, name: FromPath[str]) -> File:
    """A prescription photo, to the selling staff of the store it was taken in only."""
    path = sales.rx_image_path(request.user, name)
    return File(path=path, content_disposition_type="inline", headers={"Cache-Control": "private, no-store"})


@post("/cart/override", guards=guard)
async def override(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """Override the high allergy alerts with a reason (a clerk needs a pharmacist's PIN); audited with the sale."""
    return await _approve(request, data, ("allergy_override",), approve_form=data)


@dataclass
class AckForm:
    """The allergen class of the line's warning being acknowledged."""

    allergen_class: str = ""


@post("/cart/lines/{product_id:int}/acknowledge", guards=guard)
async def acknowledge(request: Request, product_id: RowId, data: Annotated[AckForm, FORM]) -> Template:
    """One tap: the allergy warning on a line is read (who and when are kept with the sale)."""
    return await mutated(request, sales.acknowledge(request.user, product_id, data.allergen_class))


@post("/cart/oversell", guards=guard)
async def oversell(request: Request, data: Annotated[PinForm, FORM]) -> Template:
    """Sell beyond recorded stock: a store manager approves (their login, or their username and PIN)."""
    try:
        approver = await _approver(request, data, STOCK_ROLES)
        cart = await sales.approve_oversell(request.user, approver.id, approver.display_name)
    except ValidationFailed as exc:
        return await cart_response(request, status_code=422, errors=exc.errors, oversell_form=data)
    return await cart_response(request, cart=cart)


@post("/cart/override/remove", guards=guard)
async def override_remove(request: Request) -> Template:
    """Withdraw an allergy override."""
    return await mutated(request, sales.clear_override(request.user))


ROUTES = [
    prescription,
    approve_pending,
    prescription_verify,
    prescription_image,
    override,
    acknowledge,
    oversell,
    override_remove,
]
