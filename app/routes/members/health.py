"""The health and vitals sections of the profile: allergies, conditions, preferences; readings with a chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import health, members
from app.components.allergies import CRITICALITIES, REACTIONS, allergen_classes, criticality_label, reaction_label
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES, Role
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

HEALTH = "members/health.html"
HEALTH_BLOCK = "health_section"
VITALS = "members/vitals.html"
VITALS_BLOCK = "vitals_section"
guard = [requires_role(COUNTER_ROLES)]
pharmacist_only = [requires_role(Role.PHARMACIST)]


def _choices() -> dict:
    classes = list(allergen_classes().values())
    conditions = list(health.CONDITIONS.values())
    return {
        "common_classes": [c for c in classes if c.common],
        "other_classes": [c for c in classes if not c.common],
        "criticalities": CRITICALITIES,
        "criticality_label": criticality_label,
        "reactions": [r for r in REACTIONS if r],
        "reaction_label": reaction_label,
        "common_conditions": [c for c in conditions if c.common],
        "other_conditions": [c for c in conditions if not c.common],
        "preference_kinds": health.PREFERENCE_KINDS,
        "preference_values": health.PREFERENCE_VALUES,
        "preference_kind_label": health.preference_kind_label,
        "preference_label": health.preference_label,
        "confidence_label": health.confidence_label,
        "glucose_contexts": health.GLUCOSE_CONTEXTS,
        "glucose_context_label": health.glucose_context_label,
        "flag_label": health.flag_label,
    }


async def _health(request: Request, member_no: str, status_code: int = 200, **extra: object) -> Template:
    record = await health.health_record(member_no, actor=request.user, detail="profile")
    ctx = {
        "record": record,
        "member_no": record.member_no,
        "can_confirm": request.user.role == Role.PHARMACIST,
        "errors": {},
        **_choices(),
        **extra,
    }
    return render(request, HEALTH, ctx, block=HEALTH_BLOCK, status_code=status_code)


async def _vitals(request: Request, member_no: str, status_code: int = 200, **extra: object) -> Template:
    record = await health.vitals_record(member_no, actor=request.user, detail="profile")
    ctx = {"record": record, "member_no": record.member_no, "errors": {}, "form": None, **_choices(), **extra}
    return render(request, VITALS, ctx, block=VITALS_BLOCK, status_code=status_code)


def _done(request: Request, member_no: str, section: str) -> Redirect | None:
    """A plain form post (no htmx) goes back to the profile; htmx gets the section re-rendered."""
    if wants_partial(request):
        return None
    return Redirect(f"/members/{member_no}#sec-{section}", status_code=303)


@get("/{member_no:str}/health", guards=guard)
async def health_section(request: Request, member_no: FromPath[str]) -> Template:
    """Allergies with their status, conditions with their source, preference tags (an audited view)."""
    return await _health(request, member_no)


@dataclass
class AllergyForm:
    """The two-tap allergy entry: a common class tile (or another class from the list), then the risk."""

    allergen_class: str = ""
    allergen_class_other: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""


@post("/{member_no:str}/health/allergies", guards=guard)
async def add_allergy(request: Request, member_no: FromPath[str], data: Annotated[AllergyForm, FORM]) -> Response:
    """Record an allergy; errors (no consent, no class) come back next to the form with the choices kept."""
    entry = members.NewAllergy(
        allergen_class=data.allergen_class_other or data.allergen_class,
        criticality=data.criticality or "unable-to-assess",
        reaction=data.reaction,
    )
    try:
        await members.add_allergy(member_no, entry, actor=request.user)
    except ValidationFailed as exc:
        return await _health(request, member_no, 422, errors=exc.errors, allergy_form=data, open_form="allergy")
    return _done(request, member_no, "health") or await _health(request, member_no)


@post("/{member_no:str}/health/no-known-allergies", guards=guard)
async def no_known_allergies(request: Request, member_no: FromPath[str]) -> Response:
    """The member has no known allergies (who and when are recorded)."""
    try:
        await members.record_no_known_allergies(member_no, actor=request.user)
    except ValidationFailed as exc:
        return await _health(request, member_no, 422, errors=exc.errors)
    return _done(request, member_no, "health") or await _health(request, member_no)


@dataclass
class AllergyChangeForm:
    """Resolve, refute, mark entered-in-error or reactivate one allergy."""

    allergy_id: str = ""
    change: str = ""


@post("/{member_no:str}/health/allergy-status", guards=guard)
async def change_allergy(
    request: Request, member_no: FromPath[str], data: Annotated[AllergyChangeForm, FORM]
) -> Response:
    """Change an allergy's clinical or verification status; the timeline keeps who and when."""
    try:
        await health.change_allergy(member_no, data.allergy_id, data.change, actor=request.user)
    except ValidationFailed as exc:
        return await _health(request, member_no, 422, errors=exc.errors)
    return _done(request, member_no, "health") or await _health(request, member_no)


@dataclass
class ConditionForm:
    """A condition from the vocabulary: a common tile or another from the list; onset and note optional."""

    code: str = ""
    code_other: str = ""
    onset: str = ""
    note: str = ""


@post("/{member_no:str}/health/conditions", guards=guard)
async def add_condition(request: Request, member_no: FromPath[str], data: Annotated[ConditionForm, FORM]) -> Response:
    """Record a condition the member declares (a pharmacist's entry is declared too, then confirmed)."""
    entry = health.NewCondition(code=data.code_other or data.code, onset=data.onset, note=data.note)
    try:
        await health.add_condition(member_no, entry, actor=request.user)
    except ValidationFailed as exc:
        return await _health(request, member_no, 422, errors=exc.errors, condition_form=data, open_form="condition")
    return _done(request, member_no, "health") or await _health(request, member_no)


@dataclass
class ConditionActionForm:
    """Which condition a button acts on."""

    condition_id: str = ""


@post("/{member_no:str}/health/conditions/confirm", guards=pharmacist_only)
async def confirm_condition(
    request: Request, member_no: FromPath[str], data: Annotated[ConditionActionForm, FORM]
) -> Response:
    """A pharmacist confirms a declared or inferred condition."""
    try:
        await health.confirm_condition(member_no, data.condition_id, actor=request.user)
    except ValidationFailed as exc:
        return await _health(request, member_no, 422, errors=exc.errors)
    return _done(request, member_no, "health") or await _health(request, member_no)


@post("/{member_no:str}/health/conditions/resolve", guards=guard)
async def resolve_condition(
    request: Request, member_no: FromPath[str], data: Annotated[ConditionActionForm, FORM]
) -> Response:
    """Mark a condition resolved, or dismiss an inference."""
    await health.resolve_condition(member_no, data.condition_id, actor=request.user)
    return _done(request, member_no, "health") or await _health(request, member_no)


@dataclass
class PreferenceForm:
    """Add or remove one preference tag."""

    kind: str = ""
    value: str = ""
    action: str = "add"


@post("/{member_no:str}/health/preferences", guards=guard)
async def change_preference(
    request: Request, member_no: FromPath[str], data: Annotated[PreferenceForm, FORM]
) -> Response:
    """Tag the member with a brand, dosage form, contact channel or time of day (or remove the tag)."""
    try:
        if data.action == "remove":
            await health.remove_preference(member_no, data.kind, data.value, actor=request.user)
        else:
            await health.add_preference(member_no, data.kind, data.value, actor=request.user)
    except ValidationFailed as exc:
        return await _health(
            request, member_no, 422, errors={f"preference_{k}": v for k, v in exc.errors.items()}, pref_form=data
        )
    return _done(request, member_no, "health") or await _health(request, member_no)


@get("/{member_no:str}/vitals", guards=guard)
async def vitals_section(request: Request, member_no: FromPath[str]) -> Template:
    """Latest readings, BMI, the 12-month chart and its table (an audited view)."""
    return await _vitals(request, member_no)


@dataclass
class VitalForm:
    """One reading from one of the section's forms (the kind is a hidden field)."""

    kind: str = ""
    systolic: str = ""
    diastolic: str = ""
    pulse: str = ""
    glucose: str = ""
    glucose_context: str = ""
    weight_kg: str = ""
    height_cm: str = ""
    measured_at: str = ""


@post("/{member_no:str}/vitals", guards=guard)
async def record_vital(request: Request, member_no: FromPath[str], data: Annotated[VitalForm, FORM]) -> Response:
    """Record a reading; out-of-range values are flagged, impossible ones refused next to the field."""
    try:
        await health.record_vital(member_no, health.NewVital(**data.__dict__), actor=request.user, source="counter")
    except ValidationFailed as exc:
        return await _vitals(request, member_no, 422, errors=exc.errors, form=data)
    return _done(request, member_no, "vitals") or await _vitals(request, member_no, saved=data.kind)


ROUTES = [
    health_section,
    add_allergy,
    no_known_allergies,
    change_allergy,
    add_condition,
    confirm_condition,
    resolve_condition,
    change_preference,
    vitals_section,
    record_vital,
]
