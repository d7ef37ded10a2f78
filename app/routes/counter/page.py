"""The counter page: scan a card or type a number, see the member and their allergies; allergy entry and consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import consents, members, sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import (
    SALE_ROLES,
)
from app.components.scanning import scanned_text
from app.routes.counter import scan
from app.routes.counter.context import PAGE, allergy_choices, cart_ctx, member_ctx, page_ctx, panel_with_cart
from app.routes.counter.devices import DEVICE_PAGE, device_page_ctx, needs_device
from app.routes.render import FORM, render, wants_partial


@dataclass
class LookupForm:
    """A scan or a typed number."""

    code: FromQuery[str] = ""


@get("/")
async def counter_page(request: Request) -> Template:
    """The counter: one scan field, the member panel and (for selling roles) the cart; a tablet's first visit
    asks for its name (the cart belongs to the tablet as well as the person)."""
    if needs_device(request):
        return render(request, DEVICE_PAGE, await device_page_ctx(request))
    if request.user.role in SALE_ROLES:
        return render(request, PAGE, await page_ctx(request))
    return render(request, PAGE, member_ctx(None))


@post("/lookup")
async def lookup(request: Request, data: Annotated[LookupForm, FORM]) -> Response | Template:
    """The scan field: a member card, member number or phone number shows the member (and puts them on the cart);
    for selling roles any other code is a product for the cart (app.routes.counter.scan)."""
    code = data.code.strip()
    selling = request.user.role in SALE_ROLES
    if selling and code and not scan.is_member_code(code):
        return await scan.scan_product(request, code)
    # A card scanned with the scanner's AIM symbology identifier on (]C0…) is the same card.
    found = await members.find_by_code(scanned_text(code), actor=request.user) if code else []
    if len(found) == 1:
        if selling:
            # The scanned member is the open cart's customer: the cart comes back out of band. If the cart holds
            # another member's lines, the member panel stays theirs and the cart asks whom the sale is for.
            cart = await scan.scan_member(request, found[0])
            if not wants_partial(request):
                return render(request, PAGE, await page_ctx(request), status_code=200)
            if cart.pending_member_id == found[0].id:
                return await scan.switch_asked(request, cart, code)
            ctx = member_ctx(found[0], code=code, **await cart_ctx(request, cart=cart), oob_cart=True)
            return render(request, PAGE, ctx, block="member_panel")
        return render(request, PAGE, member_ctx(found[0], code=code), block="member_panel")
    if len(found) > 1:
        return render(request, PAGE, member_ctx(None, candidates=found, code=code), block="member_panel")
    return render(request, PAGE, member_ctx(None, code=code, not_found=True), block="member_panel", status_code=404)


@get("/members/{member_no:str}")
async def member_panel(request: Request, member_no: FromPath[str]) -> Template:
    """A member's panel (full page on reload, the panel for htmx)."""
    member = await members.get_member(member_no, actor=request.user, detail="counter")
    return render(request, PAGE, member_ctx(member, code=member_no), block="member_panel")


@dataclass
class AllergyForm:
    """The two-tap allergy entry: a class, then how dangerous."""

    allergen_class: str = ""
    other_class: str = ""  # the "other" list, for classes without a tile
    substance: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""


@get("/members/{member_no:str}/allergy-form")
async def allergy_form(request: Request, member_no: FromPath[str]) -> Template:
    """The two-tap allergy entry, loaded when the pharmacist opens it."""
    await members.member_id(member_no)  # 404 for an unknown number
    ctx = {"member": {"member_no": member_no}, "allergy_form": None, "allergy_errors": None, **allergy_choices()}
    return render(request, "counter/_allergy_form.html", ctx)


@post("/members/{member_no:str}/allergies")
async def add_allergy(request: Request, member_no: FromPath[str], data: Annotated[AllergyForm, FORM]) -> Template:
    """Record an allergy the member reports; the panel comes back with the new banner."""
    entry = members.NewAllergy(
        allergen_class=data.allergen_class or data.other_class,
        substance=data.substance,
        criticality=data.criticality or "unable-to-assess",
        reaction=data.reaction,
    )
    try:
        member = await members.add_allergy(member_no, entry, actor=request.user)
    except ValidationFailed as exc:
        member = await members.get_member(member_no, actor=request.user, detail="counter")
        return render(
            request,
            PAGE,
            member_ctx(member, code=member_no, allergy_errors=exc.errors, allergy_form=data, show_allergy_form=True),
            block="member_panel",
            status_code=422,
        )
    await sales.allergies_changed(member.id)
    return await panel_with_cart(request, member_ctx(member, code=member_no))


@post("/members/{member_no:str}/no-known-allergies")
async def no_known_allergies(request: Request, member_no: FromPath[str]) -> Template:
    """Record that the member has no known allergies (who and when)."""
    try:
        member = await members.record_no_known_allergies(member_no, actor=request.user)
    except ValidationFailed as exc:
        member = await members.get_member(member_no, actor=request.user, detail="counter")
        return render(
            request,
            PAGE,
            member_ctx(member, code=member_no, status_error=" ".join(exc.errors.values())),
            block="member_panel",
            status_code=422,
        )
    return await panel_with_cart(request, member_ctx(member, code=member_no))


@post("/members/{member_no:str}/consent-health")
async def consent_health(request: Request, member_no: FromPath[str]) -> Template:
    """The member agrees, at the counter, to the processing of their health data: one tap, and the allergy entry
    is open (tap the allergen, then its risk) beside "no known allergies"."""
    member_id = await members.member_id(member_no)
    await consents.grant_now(member_id, consents.HEALTH_DATA, request.user, channel="counter")
    member = await members.get_member(member_no, actor=request.user, detail="counter")
    return await panel_with_cart(request, member_ctx(member, code=member_no, show_allergy_form=True))


ROUTES = [counter_page, lookup, member_panel, allergy_form, add_allergy, no_known_allergies, consent_health]
