"""The counter surface: scan a card or type a number, see the member and their allergies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import consents, members, sales
from app.components.allergies import CRITICALITIES, REACTIONS, allergen_classes
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import COUNTER_ROLES, SALE_ROLES
from app.components.scanning import scanned_text
from app.db import transaction
from app.routes.devices import DEVICE_PAGE, device_page_ctx, needs_device, with_counter_device
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

PAGE = "counter/index.html"
guard = [requires_role(COUNTER_ROLES), with_counter_device]


@dataclass
class LookupForm:
    """A scan or a typed number."""

    code: FromQuery[str] = ""


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


@get("/counter", guards=guard)
async def counter_page(request: Request) -> Template:
    """The counter: one scan field, the member panel and (for selling roles) the cart; a tablet's first visit
    asks for its name (the cart belongs to the tablet as well as the person)."""
    if needs_device(request):
        return render(request, DEVICE_PAGE, await device_page_ctx(request))
    if request.user.role in SALE_ROLES:
        from app.routes import sale  # sale builds on this module

        return render(request, PAGE, await sale.page_ctx(request))
    return render(request, PAGE, member_ctx(None))


async def panel_with_cart(request: Request, ctx: dict, status_code: int = 200) -> Template:
    """The member panel and, for a selling role, the cart out of band: what the member's allergies changed (or
    who the customer now is) is checked against the lines at once."""
    if request.user.role in SALE_ROLES and wants_partial(request):
        from app.routes import sale  # sale builds on this module

        ctx = {**ctx, **await sale.cart_ctx(request), "oob_cart": True}
    return render(request, PAGE, ctx, block="member_panel", status_code=status_code)


@post("/counter/lookup", guards=guard)
async def lookup(request: Request, data: Annotated[LookupForm, FORM]) -> Response | Template:
    """The scan field: a member card, member number or phone number shows the member (and puts them on the cart);
    for selling roles any other code is a product for the cart (app.routes.sale)."""
    code = data.code.strip()
    selling = request.user.role in SALE_ROLES
    if selling:
        from app.routes import sale  # sale builds on this module

        if code and not sale.is_member_code(code):
            return await sale.scan_product(request, code)
    # A card scanned with the scanner's AIM symbology identifier on (]C0…) is the same card.
    found = await members.find_by_code(scanned_text(code), actor=request.user) if code else []
    if len(found) == 1:
        if selling:
            # The scanned member is the open cart's customer: the cart comes back out of band. If the cart holds
            # another member's lines, the member panel stays theirs and the cart asks whom the sale is for.
            cart = await sale.scan_member(request, found[0])
            if not wants_partial(request):
                return render(request, PAGE, await sale.page_ctx(request), status_code=200)
            if cart.pending_member_id == found[0].id:
                return await sale.switch_asked(request, cart, code)
            ctx = member_ctx(found[0], code=code, **await sale.cart_ctx(request, cart=cart), oob_cart=True)
            return render(request, PAGE, ctx, block="member_panel")
        return render(request, PAGE, member_ctx(found[0], code=code), block="member_panel")
    if len(found) > 1:
        return render(request, PAGE, member_ctx(None, candidates=found, code=code), block="member_panel")
    return render(request, PAGE, member_ctx(None, code=code, not_found=True), block="member_panel", status_code=404)


@get("/counter/members/{member_no:str}", guards=guard)
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


@get("/counter/members/{member_no:str}/allergy-form", guards=guard)
async def allergy_form(request: Request, member_no: FromPath[str]) -> Template:
    """The two-tap allergy entry, loaded when the pharmacist opens it."""
    await members.member_id(member_no)  # 404 for an unknown number
    ctx = {"member": {"member_no": member_no}, "allergy_form": None, "allergy_errors": None, **allergy_choices()}
    return Template(template_name="counter/_allergy_form.html", context=ctx, headers={"Vary": "HX-Request"})


@post("/counter/members/{member_no:str}/allergies", guards=guard)
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


@post("/counter/members/{member_no:str}/no-known-allergies", guards=guard)
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


@post("/counter/members/{member_no:str}/consent-health", guards=guard)
async def consent_health(request: Request, member_no: FromPath[str]) -> Template:
    """The member agrees, at the counter, to the processing of their health data: one tap, and the allergy entry
    is open (tap the allergen, then its risk) beside "no known allergies"."""
    member_id = await members.member_id(member_no)
    async with transaction():
        await consents.set_consent(member_id, consents.HEALTH_DATA, True, request.user, channel="counter")
    member = await members.get_member(member_no, actor=request.user, detail="counter")
    return await panel_with_cart(request, member_ctx(member, code=member_no, show_allergy_form=True))


ROUTES = [counter_page, lookup, member_panel, allergy_form, add_allergy, no_known_allergies, consent_health]

__all__ = ["PAGE", "ROUTES", "NotFound", "allergy_choices", "member_ctx"]
