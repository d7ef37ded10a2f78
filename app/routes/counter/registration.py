"""Registration at the counter in three steps: basic details (likely duplicates first), health, preferences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import consents, health, members, sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import SALE_ROLES, Role
from app.routes.counter.context import allergy_choices, cart_ctx, member_ctx, panel_with_cart
from app.routes.members.details import DetailsForm
from app.routes.render import FORM, render, wants_partial

REGISTER = "counter/register.html"
BLOCK = "register_step"


async def _step(request: Request, ctx: dict, cart: sales.CartView | None = None, status_code: int = 200) -> Template:
    """A registration step and, at a selling counter, the cart out of band: the member just registered is the
    sale's customer, and what they said about allergies is checked against its lines at once."""
    if request.user.role in SALE_ROLES and wants_partial(request):
        region = await cart_ctx(request, cart=cart)
        # The step's own form errors are not the cart's (the template gives the cart `cart_errors`).
        ctx = {**region, **ctx, "cart_errors": region["errors"], "oob_cart": True}
    return render(request, REGISTER, ctx, block=BLOCK, status_code=status_code)


def _as_list(value: list[str] | str) -> list[str]:
    """A repeated form field: one value arrives as a string, several as a list."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if v]


# ---------------------------------------------------------------- step 1: basic details


@dataclass
class BasicForm(DetailsForm):
    """Step 1 as typed: the details form, plus `confirm_duplicates` set by "register anyway"."""

    confirm_duplicates: str = ""


async def _basic_ctx(request: Request, form: BasicForm, errors: dict | None = None, **extra: object) -> dict:
    return {
        "step": 1,
        "form": form,
        "errors": errors or {},
        "duplicates": [],
        "member_classes": [(c, members.member_class_label(c)) for c in members.MEMBER_CLASSES],
        "pharmacists": await members.store_pharmacists(request.user.store_id),
        **extra,
    }


@get("/register")
async def register_page(request: Request, code: FromQuery[str] = "") -> Template:
    """Step 1; a scanned phone number is carried over, a pharmacist is proposed as the responsible one."""
    form = BasicForm(phone=code if members.normalize_phone(code) else "")
    if request.user.role == Role.PHARMACIST:
        form.responsible_pharmacist = str(request.user.id)
    return render(request, REGISTER, await _basic_ctx(request, form), block=BLOCK)


@post("/register")
async def register_submit(request: Request, data: Annotated[BasicForm, FORM]) -> Template:
    """Create the member, then step 2. Likely duplicates come back first (409) with "open" and "register anyway";
    errors come back next to the fields (422), nothing typed is lost."""
    new = members.NewMember(
        name=data.name,
        gender=data.gender,
        birth_date=data.birth_date,
        phone=data.phone,
        address=data.address,
        id_number=data.id_number,
        member_class=data.member_class,
        organisation=data.organisation,
        responsible_pharmacist=data.responsible_pharmacist,
    )
    try:
        member = await members.register(new, actor=request.user, allow_duplicates=bool(data.confirm_duplicates))
    except members.DuplicatesFound as exc:
        ctx = await _basic_ctx(request, data, duplicates=exc.duplicates)
        return render(request, REGISTER, ctx, block=BLOCK, status_code=409)
    except ValidationFailed as exc:
        return render(request, REGISTER, await _basic_ctx(request, data, exc.errors), block=BLOCK, status_code=422)
    ctx = await _health_ctx(request, member.member_no, HealthForm(), member=member, registered=True)
    cart = None
    if request.user.role in SALE_ROLES:
        # The person registering is the customer at the counter (unless the cart holds someone else's lines:
        # then the cart asks whom the sale is for).
        cart = await sales.claim_member(request.user, member.id, member.member_no, member.name)
    return await _step(request, ctx, cart)


# ---------------------------------------------------------------- step 2: health


@dataclass
class HealthForm:
    """Step 2 as typed."""

    consent_health: str = ""
    allergy_status: str = ""
    allergen_class: str = ""
    other_class: str = ""  # the "other" list, for classes without a tile
    substance: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""
    conditions: list[str] | str = ""
    height_cm: str = ""
    weight_kg: str = ""


async def _health_ctx(
    request: Request,
    member_no: str,
    form: HealthForm,
    errors: dict | None = None,
    member: members.MemberView | None = None,
    **extra: object,
) -> dict:
    member = member or await members.get_member(member_no, actor=request.user, detail="register")
    conditions = list(health.CONDITIONS.values())
    chosen = set(_as_list(form.conditions))
    return {
        "step": 2,
        "member": member,
        "form": form,
        "chosen_conditions": chosen,
        "other_conditions_chosen": bool(chosen - {c.code for c in conditions if c.common}),
        "chosen_class": form.allergen_class or form.other_class,
        "errors": errors or {},
        "common_conditions": [c for c in conditions if c.common],
        "other_conditions": [c for c in conditions if not c.common],
        **allergy_choices(),
        **extra,
    }


@get("/register/{member_no:str}/health")
async def health_step(request: Request, member_no: FromPath[str]) -> Template:
    """Step 2 (also how a registration stopped after step 1 is continued)."""
    member = await members.get_member(member_no, actor=request.user, detail="register")
    form = HealthForm(consent_health="1" if member.consent_health else "")
    return render(request, REGISTER, await _health_ctx(request, member_no, form, member=member), block=BLOCK)


@post("/register/{member_no:str}/health")
async def health_submit(request: Request, member_no: FromPath[str], data: Annotated[HealthForm, FORM]) -> Template:
    """Store step 2 (or record that the member declined), then step 3."""
    step = members.HealthStep(
        consent=bool(data.consent_health),
        allergy_status=data.allergy_status,
        allergy=members.NewAllergy(
            allergen_class=data.allergen_class or data.other_class,
            substance=data.substance,
            criticality=data.criticality or "unable-to-assess",
            reaction=data.reaction,
        ),
        conditions=_as_list(data.conditions),
        height_cm=data.height_cm,
        weight_kg=data.weight_kg,
    )
    try:
        await members.save_health_step(member_no, step, actor=request.user)
    except ValidationFailed as exc:
        ctx = await _health_ctx(request, member_no, data, exc.errors)
        return render(request, REGISTER, ctx, block=BLOCK, status_code=422)
    ctx = await _preferences_ctx(request, member_no, PreferencesForm(), health_declined=not step.consent)
    await sales.allergies_changed(ctx["member"].id)
    return await _step(request, ctx)


# ---------------------------------------------------------------- step 3: preferences and consents


@dataclass
class PreferencesForm:
    """Step 3 as typed."""

    marketing_sms: str = ""
    marketing_wechat: str = ""
    kiosk_display: str = ""
    brand: str = ""
    dosage_form: list[str] | str = ""
    channel: list[str] | str = ""
    contact_time: list[str] | str = ""
    language: list[str] | str = ""


async def _preferences_ctx(
    request: Request, member_no: str, form: PreferencesForm, errors: dict | None = None, **extra: object
) -> dict:
    member = await members.get_member(member_no, actor=request.user, detail="register")
    choices = {
        kind: [(v, health.preference_label(kind, v)) for v in values]
        for kind, values in health.PREFERENCE_VALUES.items()
    }
    return {
        "step": 3,
        "member": member,
        "form": form,
        "errors": errors or {},
        "chosen": {kind: set(_as_list(getattr(form, kind))) for kind in choices},
        "preference_choices": choices,
        "preference_kind_label": health.preference_kind_label,
        "purpose_label": consents.purpose_label,
        **extra,
    }


@get("/register/{member_no:str}/preferences")
async def preferences_step(request: Request, member_no: FromPath[str]) -> Template:
    """Step 3, showing the consents in force."""
    member_id = await members.member_id(member_no)
    state = await consents.current(member_id)
    form = PreferencesForm(
        marketing_sms="1" if state[consents.MARKETING_SMS].granted else "",
        marketing_wechat="1" if state[consents.MARKETING_WECHAT].granted else "",
        kiosk_display="1" if state[consents.KIOSK_DISPLAY].granted else "",
    )
    return render(request, REGISTER, await _preferences_ctx(request, member_no, form), block=BLOCK)


@post("/register/{member_no:str}/preferences")
async def preferences_submit(
    request: Request, member_no: FromPath[str], data: Annotated[PreferencesForm, FORM]
) -> Template:
    """Store step 3 and show the member's panel."""
    step = members.PreferencesStep(
        marketing_sms=bool(data.marketing_sms),
        marketing_wechat=bool(data.marketing_wechat),
        kiosk_display=bool(data.kiosk_display),
        preferences={
            "brand": members.split_brands(data.brand),
            "dosage_form": _as_list(data.dosage_form),
            "channel": _as_list(data.channel),
            "contact_time": _as_list(data.contact_time),
            "language": _as_list(data.language),
        },
    )
    try:
        await members.save_preferences_step(member_no, step, actor=request.user)
    except ValidationFailed as exc:
        ctx = await _preferences_ctx(request, member_no, data, exc.errors)
        return render(request, REGISTER, ctx, block=BLOCK, status_code=422)
    member = await members.get_member(member_no, actor=request.user, detail="counter")
    return await panel_with_cart(request, member_ctx(member, code=member_no, completed=True))


ROUTES = [
    register_page,
    register_submit,
    health_step,
    health_submit,
    preferences_step,
    preferences_submit,
]
