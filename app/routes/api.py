"""JSON API v1 for POS/ERP integration (bearer token); OpenAPI at /schema."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Request, Response, get, patch, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody

from app.components import health, members
from app.components.roles import MEMBER_READ_ROLES, MEMBER_WRITE_ROLES
from app.routes.guards import requires_role

SECURITY = [{"bearer": []}]


@dataclass
class MemberIn:
    """A member to register. `store` (a store code) is required for HQ tokens, else the token's store."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: FromQuery[str] = ""
    store: FromQuery[str] = ""
    address: str = ""
    id_number: str = ""
    member_class: str = "member"
    organisation: str = ""
    responsible_pharmacist: str = ""


@dataclass
class AllergyIn:
    """A coded allergy (FHIR-style value sets)."""

    allergen_class: str = ""
    substance: str = ""
    category: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""
    severity: str = ""
    verification_status: str = "unconfirmed"
    clinical_status: str = "active"
    note: str = ""


@post("/api/v1/members", guards=[requires_role(MEMBER_WRITE_ROLES)], security=SECURITY, tags=["members"])
async def create_member(request: Request, data: JSONBody[MemberIn]) -> Response:
    """Register a member; 201 with `member_no`, or 422 with field errors."""
    view = await members.register(
        members.NewMember(
            name=data.name,
            gender=data.gender,
            birth_date=data.birth_date,
            phone=data.phone,
            store_code=data.store,
            address=data.address,
            id_number=data.id_number,
            member_class=data.member_class,
            organisation=data.organisation,
            responsible_pharmacist=data.responsible_pharmacist,
        ),
        actor=request.user,
    )
    return Response(view.as_json(), status_code=201)


@get("/api/v1/members/{member_no:str}", guards=[requires_role(MEMBER_READ_ROLES)], security=SECURITY, tags=["members"])
async def read_member(request: Request, member_no: FromPath[str]) -> dict:
    """A member with `allergy_status` and `allergies` (audited); 404 when unknown."""
    view = await members.get_member(member_no, actor=request.user, detail="api")
    return view.as_json()


@dataclass
class MemberPatch:
    """Fields to change; an absent (or null) field is left alone, "" clears it. `responsible_pharmacist` is a
    staff id of a pharmacist of the member's store."""

    name: str | None = None
    gender: str | None = None
    birth_date: str | None = None
    phone: str | None = None
    address: str | None = None
    id_number: str | None = None
    member_class: str | None = None
    organisation: str | None = None
    responsible_pharmacist: str | int | None = None


@patch(
    "/api/v1/members/{member_no:str}", guards=[requires_role(MEMBER_WRITE_ROLES)], security=SECURITY, tags=["members"]
)
async def update_member(request: Request, member_no: FromPath[str], data: JSONBody[MemberPatch]) -> dict:
    """Partial update with the registration rules: one history row per changed field; 422 with field errors,
    404 when unknown. Returns the member and `changed` (field names; personal identifiers are not echoed)."""
    changes = {k: "" if v is None else str(v) for k, v in data.__dict__.items() if v is not None}
    changed = await members.update_member(member_no, changes, actor=request.user)
    view = await members.get_member(member_no, actor=request.user, detail="api")
    return {**view.as_json(), "changed": [c.field for c in changed]}


@get("/api/v1/members", guards=[requires_role(MEMBER_READ_ROLES)], security=SECURITY, tags=["members"])
async def find_members(request: Request, phone: FromQuery[str] = "") -> dict:
    """Exact lookup by phone number; `members` is empty when nobody has it."""
    if not members.normalize_phone(phone):
        raise ValidationException(
            detail="invalid phone", extra=[{"key": "phone", "message": "a valid mainland mobile number is required"}]
        )
    found = await members.find_by_code(phone, actor=request.user)
    return {"members": [m.as_json() for m in found]}


@post(
    "/api/v1/members/{member_no:str}/allergies",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["members"],
)
async def add_allergy(request: Request, member_no: FromPath[str], data: JSONBody[AllergyIn]) -> Response:
    """Record a coded allergy; 422 on an unknown allergen class, 404 on an unknown member."""
    view = await members.add_allergy(member_no, members.NewAllergy(**data.__dict__), actor=request.user)
    return Response(view.as_json(), status_code=201)


@dataclass
class VitalIn:
    """One reading: `kind` bp | glucose | weight | height (empty: every kind whose fields are present);
    glucose in mmol/L with `glucose_context` fasting | post_meal_2h | random; `measured_at` ISO (local time
    without an offset), absent for now."""

    kind: str = ""
    systolic: int | float | str | None = None
    diastolic: int | float | str | None = None
    pulse: int | float | str | None = None
    glucose: int | float | str | None = None
    glucose_context: str = ""
    weight_kg: int | float | str | None = None
    height_cm: int | float | str | None = None
    measured_at: str = ""


@post(
    "/api/v1/members/{member_no:str}/vitals",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["health"],
)
async def add_vital(request: Request, member_no: FromPath[str], data: JSONBody[VitalIn]) -> Response:
    """Record a reading, flagged when out of range; 201 with `vitals` and `bmi`, 422 (also without health-data
    consent), 404 when the member is unknown."""
    entry = health.NewVital(**{k: "" if v is None else v for k, v in data.__dict__.items()})
    readings = await health.record_vital(member_no, entry, actor=request.user, source="api")
    bmi = await health.latest_bmi(await members.member_id(member_no))
    body = {
        "member_no": member_no,
        "vitals": [v.as_json() for v in readings],
        "bmi": {"value": bmi.value, "category": bmi.category} if bmi else None,
    }
    return Response(body, status_code=201)


@dataclass
class ConditionIn:
    """A condition code of the vocabulary; `source` declared | inferred | confirmed (pharmacists only);
    `onset` YYYY-MM-DD, YYYY-MM or YYYY."""

    code: str = ""
    source: str = "declared"
    onset: str = ""
    note: str = ""


@post(
    "/api/v1/members/{member_no:str}/conditions",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["health"],
)
async def add_condition(request: Request, member_no: FromPath[str], data: JSONBody[ConditionIn]) -> Response:
    """Record a condition (an active one with the same code is kept, not doubled); 201 with it, 422, 404."""
    view = await health.add_condition(member_no, health.NewCondition(**data.__dict__), actor=request.user)
    return Response(view.as_json(), status_code=201)


@get(
    "/api/v1/members/{member_no:str}/timeline",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
)
async def member_timeline(request: Request, member_no: FromPath[str], limit: FromQuery[int] = 100) -> dict:
    """The member's timeline, newest first (at most `limit`, ≤ 500); audited; 404 when unknown."""
    events = await health.member_timeline(member_no, actor=request.user, limit=limit)
    return {
        "member_no": member_no,
        "events": [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "summary": e.summary,
                "staff": e.staff,
                "store": e.store,
                "ref": e.ref,
            }
            for e in events
        ],
    }


ROUTES = [create_member, read_member, update_member, find_members, add_allergy]
ROUTES += [add_vital, add_condition, member_timeline]
