"""The profile's "details" section (class, contacts, identifiers, edit with history, verification) and the card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import members
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

DETAILS = "members/details.html"
BLOCK = "details_section"
guard = [requires_role(COUNTER_ROLES)]


async def _details_ctx(
    request: Request, member_no: str, details: members.MemberDetails | None = None, **extra: object
) -> dict:
    details = details or await members.details(member_no, actor=request.user)
    return {
        "d": details,
        "history": await members.change_history(member_no),
        "editing": False,
        "errors": {},
        "gender_label": members.gender_label,
        **extra,
    }


async def _edit_ctx(request: Request, member_no: str, form: members.NewMember, errors: dict | None = None) -> dict:
    details = await members.details(member_no, actor=request.user)
    return await _details_ctx(
        request,
        member_no,
        details,
        editing=True,
        form=form,
        errors=errors or {},
        member_classes=[(c, members.member_class_label(c)) for c in members.MEMBER_CLASSES],
        pharmacists=await members.store_pharmacists(details.home_store_id),
    )


def _to_profile(member_no: str) -> Redirect:
    return Redirect(f"/members/{member_no}#sec-details", status_code=303)


@get("/{member_no:str}/details", guards=guard)
async def details_section(request: Request, member_no: FromPath[str]) -> Template | Redirect:
    """The details section (the profile loads it); a browser opening the URL lands on the profile."""
    if not wants_partial(request):
        await members.member_id(member_no)  # unknown numbers are a 404, not a redirect
        return _to_profile(member_no)
    return render(request, DETAILS, await _details_ctx(request, member_no), block=BLOCK)


@get("/{member_no:str}/details/edit", guards=guard)
async def details_edit(request: Request, member_no: FromPath[str]) -> Template | Redirect:
    """The member's own edit form: the phone in clear (audited), the ID number blank (blank keeps it)."""
    if not wants_partial(request):
        await members.member_id(member_no)
        return _to_profile(member_no)
    form = await members.edit_values(member_no, actor=request.user)
    return render(request, DETAILS, await _edit_ctx(request, member_no, form), block=BLOCK)


@dataclass
class DetailsForm:
    """The edit form as typed; a blank ID number keeps the stored one."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: str = ""
    address: str = ""
    id_number: str = ""
    member_class: str = "member"
    organisation: str = ""
    responsible_pharmacist: str = ""


@post("/{member_no:str}/details", guards=guard)
async def details_save(
    request: Request, member_no: FromPath[str], data: Annotated[DetailsForm, FORM]
) -> Template | Redirect:
    """Save the edit: one history row per changed field; errors next to the fields with every value kept."""
    changes = {name: getattr(data, name) for name in members.EDITABLE_FIELDS}
    if not data.id_number.strip():
        del changes["id_number"]
    try:
        changed = await members.update_member(member_no, changes, actor=request.user)
    except ValidationFailed as exc:
        form = members.NewMember(**{name: getattr(data, name) for name in members.EDITABLE_FIELDS})
        ctx = await _edit_ctx(request, member_no, form, exc.errors)
        return render(request, DETAILS, ctx, status_code=422, block=BLOCK)
    if not wants_partial(request):
        return _to_profile(member_no)
    ctx = await _details_ctx(
        request, member_no, saved=True, changed_labels=[members.field_label(c.field) for c in changed]
    )
    return render(request, DETAILS, ctx, block=BLOCK)


@post("/{member_no:str}/verify", guards=guard)
async def details_verify(request: Request, member_no: FromPath[str]) -> Template | Redirect:
    """The member confirmed their details: verified today by the actor; the counter's flag goes away."""
    await members.confirm_details(member_no, actor=request.user)
    if not wants_partial(request):
        return _to_profile(member_no)
    return render(request, DETAILS, await _details_ctx(request, member_no, verified_now=True), block=BLOCK)


@get("/{member_no:str}/card", guards=guard)
async def member_card(request: Request, member_no: FromPath[str]) -> Template:
    """The printable member card: the number as a Code 128 barcode and a QR code, the name and the store."""
    card = await members.member_card(member_no)
    ctx = {"card": card, "barcode": members.barcode_svg(card.member_no), "qr": members.qr_svg(card.member_no)}
    return render(request, "members/card.html", ctx)


ROUTES = [details_section, details_edit, details_save, details_verify, member_card]
