"""JSON API v1 for POS/ERP integration (bearer token): members, allergies, vitals, conditions, timeline."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, patch, post
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import JSONBody, Parameter

from app.components import health, members
from app.components.core.roles import MEMBER_READ_ROLES, MEMBER_WRITE_ROLES
from app.components.members import reason_label
from app.i18n import _
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role

MemberNo = Annotated[str, s.MEMBER_NO]


def _duplicates(exc: members.DuplicatesFound) -> Response:
    """409 listing the likely duplicates (member number, name, masked phone, why)."""
    found = [
        {
            "member_no": d.member_no,
            "name": d.name,
            "phone": d.phone_masked,
            "reasons": list(d.codes),
            "reason_labels": [reason_label(c) for c in d.codes],
        }
        for d in exc.duplicates
    ]
    message = _(
        "This may be a member already registered: %(numbers)s. Send confirm_new: true to register a new member."
    ) % {"numbers": ", ".join(d["member_no"] for d in found)}
    return Response({"errors": [{"field": None, "message": message}], "duplicates": found}, status_code=409)


@post(
    "/members",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={
        201: s.ok(s.MemberOut, "The new member."),
        409: s.error(409, "Likely duplicates (same resident ID, phone, or name and birth date).", s.DuplicatesBody),
    },
)
async def create_member(request: Request, data: JSONBody[s.MemberIn]) -> Response:
    """Register a member with the counter's duplicate rules: 201 with `member_no`; 409 listing likely duplicates
    unless `confirm_new` is true; 422 with field errors."""
    new = members.NewMember(
        name=data.name,
        gender=s.stored_gender(data.gender) or "U",
        birth_date=data.birth_date.isoformat() if data.birth_date else "",
        phone=data.phone,
        store_code=data.store,
        address=data.address,
        id_number=data.id_number,
        member_class=data.member_class,
        organisation=data.organisation,
        responsible_pharmacist=str(data.responsible_pharmacist or ""),
    )
    try:
        view = await members.register(new, actor=request.user, allow_duplicates=data.confirm_new)
    except members.DuplicatesFound as exc:
        return _duplicates(exc)
    return Response(view.as_json(), status_code=201)


@get(
    "/members/{member_no:str}",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(s.MemberOut, "The member, with allergies (the read is audited).")},
)
async def read_member(request: Request, member_no: MemberNo) -> dict:
    """A member with `allergy_status` and `allergies` (audited); 404 when unknown."""
    view = await members.get_member(member_no, actor=request.user, detail="api")
    return view.as_json()


@patch(
    "/members/{member_no:str}",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(s.MemberChanged, "The member and the names of the fields that changed.")},
)
async def update_member(request: Request, member_no: MemberNo, data: JSONBody[s.MemberPatch]) -> dict:
    """Partial update with the registration rules: one history row per changed field; 422 with field errors,
    404 when unknown. Returns the member and `changed` (field names; personal identifiers are not echoed)."""
    given = {name: getattr(data, name) for name in data.__struct_fields__ if getattr(data, name) is not None}
    if "gender" in given:
        given["gender"] = s.stored_gender(given["gender"])
    changes = {k: v.isoformat() if hasattr(v, "isoformat") else str(v) for k, v in given.items()}
    changed = await members.update_member(member_no, changes, actor=request.user)
    view = await members.get_member(member_no, actor=request.user, detail="api")
    return {**view.as_json(), "changed": [c.field for c in changed]}


@get(
    "/members",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(s.MembersOut, "The members with this phone (none: an empty list).")},
)
async def find_members(
    request: Request,
    phone: Annotated[
        str, Parameter(max_length=32, description="A mobile number.", examples=[Example(value="13812341234")])
    ],
) -> dict:
    """Exact lookup by phone number; `members` is empty when nobody has it."""
    if not members.normalize_phone(phone):
        raise ValidationException(
            detail="invalid phone",
            extra=[
                {
                    "key": "phone",
                    "message": _("Enter a valid mainland China mobile number (11 digits, starting with 1)."),
                }
            ],
        )
    found = await members.find_by_code(phone, actor=request.user)
    return {"members": [m.as_json() for m in found]}


@post(
    "/members/{member_no:str}/allergies",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={201: s.ok(s.MemberOut, "The member with the new allergy.")},
)
async def add_allergy(request: Request, member_no: MemberNo, data: JSONBody[s.AllergyIn]) -> Response:
    """Record a coded allergy (needs the member's health-data consent, see /consents); 422 on an unknown allergen
    class or without consent, 404 on an unknown member."""
    allergy = members.NewAllergy(**{name: getattr(data, name) for name in data.__struct_fields__})
    view = await members.add_allergy(member_no, allergy, actor=request.user)
    return Response(view.as_json(), status_code=201)


@post(
    "/members/{member_no:str}/vitals",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["health"],
    responses={201: s.ok(s.VitalsOut, "The readings recorded, flagged when out of range, and the BMI.")},
)
async def add_vital(request: Request, member_no: MemberNo, data: JSONBody[s.VitalIn]) -> Response:
    """Record a reading, flagged when out of range; 201 with `vitals` and `bmi`, 422 (also without health-data
    consent), 404 when the member is unknown."""
    entry = health.NewVital(**{k: "" if getattr(data, k) is None else getattr(data, k) for k in data.__struct_fields__})
    readings = await health.record_vital(member_no, entry, actor=request.user, source="api")
    bmi = await health.latest_bmi(await members.member_id(member_no))
    body = {
        "member_no": member_no,
        "vitals": [v.as_json() for v in readings],
        "bmi": {"value": bmi.value, "category": bmi.category} if bmi else None,
    }
    return Response(body, status_code=201)


@post(
    "/members/{member_no:str}/conditions",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["health"],
    responses={201: s.ok(s.ConditionOut, "The condition (an active one with the same code: kept, not doubled).")},
)
async def add_condition(request: Request, member_no: MemberNo, data: JSONBody[s.ConditionIn]) -> Response:
    """Record a condition (an active one with the same code is kept, not doubled); 201 with it, 422, 404."""
    entry = health.NewCondition(**{name: getattr(data, name) for name in data.__struct_fields__})
    view = await health.add_condition(member_no, entry, actor=request.user)
    return Response(view.as_json(), status_code=201)


@get(
    "/members/{member_no:str}/timeline",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(s.TimelineOut, "The member's timeline, newest first (the read is audited).")},
)
async def member_timeline(request: Request, member_no: MemberNo, limit: Annotated[int, s.TIMELINE_LIMIT] = 100) -> dict:
    """The member's timeline, newest first (at most `limit`, 1–500); audited; 404 when unknown."""
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
