"""The counter surface: scan a card or type a number, see the member and their allergies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import members
from app.components.allergens import CRITICALITIES, REACTIONS, allergen_classes
from app.components.errors import NotFound, ValidationFailed
from app.components.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render

PAGE = "counter/index.html"
guard = [requires_role(COUNTER_ROLES)]


@dataclass
class LookupForm:
    """A scan or a typed number."""

    code: FromQuery[str] = ""


def _allergy_choices() -> dict:
    classes = list(allergen_classes().values())
    return {
        "common_classes": [c for c in classes if c.common],
        "other_classes": [c for c in classes if not c.common],
        "criticalities": CRITICALITIES,
        "reactions": [r for r in REACTIONS if r],
    }


def _member_ctx(member: members.MemberView | None, **extra: object) -> dict:
    return {"member": member, "candidates": [], "code": "", "not_found": False, **_allergy_choices(), **extra}


@get("/counter", guards=guard)
async def counter_page(request: Request) -> Template:
    """The counter: one scan field, the member panel below it."""
    return render(request, PAGE, _member_ctx(None))


@post("/counter/lookup", guards=guard)
async def lookup(request: Request, data: Annotated[LookupForm, FORM]) -> Template:
    """Find the member for a scanned card, member number or phone number."""
    code = data.code.strip()
    found = await members.find_by_code(code, actor=request.user) if code else []
    if len(found) == 1:
        return render(request, PAGE, _member_ctx(found[0], code=code), block="member_panel")
    if len(found) > 1:
        return render(request, PAGE, _member_ctx(None, candidates=found, code=code), block="member_panel")
    return render(request, PAGE, _member_ctx(None, code=code, not_found=True), block="member_panel", status_code=404)


@get("/counter/members/{member_no:str}", guards=guard)
async def member_panel(request: Request, member_no: FromPath[str]) -> Template:
    """A member's panel (full page on reload, the panel for htmx)."""
    member = await members.get_member(member_no, actor=request.user, detail="counter")
    return render(request, PAGE, _member_ctx(member, code=member_no), block="member_panel")


@dataclass
class AllergyForm:
    """The two-tap allergy entry: a class, then how dangerous."""

    allergen_class: str = ""
    substance: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""


@post("/counter/members/{member_no:str}/allergies", guards=guard)
async def add_allergy(request: Request, member_no: FromPath[str], data: Annotated[AllergyForm, FORM]) -> Template:
    """Record an allergy the member reports; the panel comes back with the new banner."""
    entry = members.NewAllergy(
        allergen_class=data.allergen_class,
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
            _member_ctx(member, code=member_no, allergy_errors=exc.errors, allergy_form=data, show_allergy_form=True),
            block="member_panel",
            status_code=422,
        )
    return render(request, PAGE, _member_ctx(member, code=member_no), block="member_panel")


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
            _member_ctx(member, code=member_no, status_error=exc.errors["allergy_status"]),
            block="member_panel",
            status_code=422,
        )
    return render(request, PAGE, _member_ctx(member, code=member_no), block="member_panel")


@dataclass
class RegisterForm:
    """The quick registration: name, gender, birth date, phone."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: FromQuery[str] = ""


REGISTER = "counter/register.html"


@get("/counter/register", guards=guard)
async def register_page(request: Request, code: FromQuery[str] = "") -> Template:
    """The quick registration form; a scanned phone number is carried over."""
    form = RegisterForm(phone=code if members.normalize_phone(code) else "")
    return render(request, REGISTER, {"form": form, "errors": {}}, block="register_form")


@post("/counter/register", guards=guard)
async def register_submit(request: Request, data: Annotated[RegisterForm, FORM]) -> Template:
    """Create the member and show their panel; errors come back next to the fields, nothing lost."""
    try:
        member = await members.register(
            members.NewMember(name=data.name, gender=data.gender, birth_date=data.birth_date, phone=data.phone),
            actor=request.user,
        )
    except ValidationFailed as exc:
        return render(request, REGISTER, {"form": data, "errors": exc.errors}, block="register_form", status_code=422)
    return render(
        request,
        PAGE,
        _member_ctx(member, code=member.member_no, registered=True),
        block="member_panel",
        headers={"HX-Retarget": "#member", "HX-Reswap": "innerHTML"},
    )


ROUTES = [counter_page, lookup, member_panel, add_allergy, no_known_allergies, register_page, register_submit]

__all__ = ["ROUTES", "NotFound"]
