"""JSON API v1 for POS/ERP integration (bearer token); OpenAPI at /schema."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody

from app.components import members
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
            name=data.name, gender=data.gender, birth_date=data.birth_date, phone=data.phone, store_code=data.store
        ),
        actor=request.user,
    )
    return Response(view.as_json(), status_code=201)


@get("/api/v1/members/{member_no:str}", guards=[requires_role(MEMBER_READ_ROLES)], security=SECURITY, tags=["members"])
async def read_member(request: Request, member_no: FromPath[str]) -> dict:
    """A member with `allergy_status` and `allergies` (audited); 404 when unknown."""
    view = await members.get_member(member_no, actor=request.user, detail="api")
    return view.as_json()


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


ROUTES = [create_member, read_member, find_members, add_allergy]
