"""JSON API v1: a member's chronic therapies with the refill-due day and PDC (bearer token; audited)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Request, get

from app.components import adherence, members
from app.components.core.clock import store_today
from app.components.core.roles import MEMBER_READ_ROLES
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role

MemberNo = Annotated[str, s.MEMBER_NO]


class TherapyOut(msgspec.Struct):
    group: Annotated[str, msgspec.Meta(description="ATC level 4 (five characters).")]
    medicine: str
    condition: str
    first_fill: date | None
    refill_due: Annotated[date | None, msgspec.Meta(description="The first day without medicine.")]
    overdue_days: int
    pdc: Annotated[int | None, msgspec.Meta(description="Whole percent of days covered over 180 days.")]
    adherent: Annotated[bool | None, msgspec.Meta(description="PDC ≥ 80 %; null with fewer than two fills.")]
    fill_dates: int


class AdherenceOut(msgspec.Struct):
    member_no: str
    therapies: list[TherapyOut]


@get(
    "/members/{member_no:str}/adherence",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(AdherenceOut, "The member's chronic therapies (the read is audited).")},
)
async def member_adherence(request: Request, member_no: MemberNo) -> dict:
    """Refill-due day and PDC per chronic therapy group; 404 when the member is unknown."""
    member_id = await members.member_id(member_no)
    therapies = await adherence.adherence_record(member_id, store_today(), request.user, detail="api")
    return {"member_no": member_no, "therapies": [msgspec.structs.asdict(TherapyOut(**t.__dict__)) for t in therapies]}


ROUTES = [member_adherence]
