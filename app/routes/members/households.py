"""The household section of the profile: create, link family members, contact and guardians, unlink."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import members
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

TEMPLATE = "members/household.html"
BLOCK = "household_section"
guard = [requires_role(COUNTER_ROLES)]


@dataclass
class HouseholdForm:
    """Every household action's fields; each action reads the ones it needs."""

    name: str = ""
    other_no: str = ""
    role: str = ""
    guardian_no: str = ""
    target_no: str = ""


async def _section(
    request: Request,
    member_no: str,
    form: HouseholdForm | None = None,
    errors: dict | None = None,
    status_code: int = 200,
) -> Template:
    member, household = await members.household_for(member_no, actor=request.user)
    ctx = {
        "member": member,
        "member_no": member_no,
        "household": household,
        "form": asdict(form or HouseholdForm()),
        "errors": errors or {},
        "roles": [(r, members.role_label(r)) for r in (members.ADULT, members.CHILD, members.CONTACT)],
    }
    return render(request, TEMPLATE, ctx, block=BLOCK, status_code=status_code)


async def _done(request: Request, member_no: str) -> Response:
    if not wants_partial(request):
        return Redirect(f"/members/{member_no}", status_code=303)
    return await _section(request, member_no)


@get("/{member_no:str}/household", guards=guard)
async def household_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's household: who is in it, their roles and guardians, and the actions."""
    return await _section(request, member_no)


@post("/{member_no:str}/household", guards=guard)
async def create_household(
    request: Request, member_no: FromPath[str], data: Annotated[HouseholdForm, FORM]
) -> Response:
    """Create a household with this member as its contact."""
    try:
        await members.create_household(member_no, actor=request.user, name=data.name)
    except ValidationFailed as exc:
        return await _section(request, member_no, data, exc.errors, status_code=422)
    return await _done(request, member_no)


@post("/{member_no:str}/household/link", guards=guard)
async def link_member(request: Request, member_no: FromPath[str], data: Annotated[HouseholdForm, FORM]) -> Response:
    """In a household: add the member numbered `other_no` to it. Not in one: join the household of `other_no`."""
    try:
        await members.add_or_join(member_no, data.other_no, data.role, request.user, guardian_no=data.guardian_no)
    except ValidationFailed as exc:
        return await _section(request, member_no, data, exc.errors, status_code=422)
    return await _done(request, member_no)


@post("/{member_no:str}/household/contact", guards=guard)
async def make_contact(request: Request, member_no: FromPath[str], data: Annotated[HouseholdForm, FORM]) -> Response:
    """Make an adult of the household (`target_no`) its contact."""
    try:
        await members.make_contact(data.target_no or member_no, member_no, request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, data, exc.errors, status_code=422)
    return await _done(request, member_no)


@post("/{member_no:str}/household/guardian", guards=guard)
async def set_guardian(request: Request, member_no: FromPath[str], data: Annotated[HouseholdForm, FORM]) -> Response:
    """Give a child of the household (`target_no`) another guardian (`guardian_no`)."""
    try:
        await members.set_guardian(data.target_no, data.guardian_no, member_no, request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, data, exc.errors, status_code=422)
    return await _done(request, member_no)


@post("/{member_no:str}/household/unlink", guards=guard)
async def unlink_member(request: Request, member_no: FromPath[str], data: Annotated[HouseholdForm, FORM]) -> Response:
    """Take a member (`target_no`, by default this one) out of the household."""
    try:
        await members.unlink(data.target_no or member_no, member_no, request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, data, exc.errors, status_code=422)
    return await _done(request, member_no)


ROUTES = [household_section, create_household, link_member, make_contact, set_guardian, unlink_member]
