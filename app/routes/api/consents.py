"""JSON API v1 for a member's consents (bearer token): what is in force per purpose, and a grant or withdrawal now.

An integrator records the health-data consent here that allergies, conditions and vitals require.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import JSONBody

from app.components import consents
from app.components.core.roles import MEMBER_READ_ROLES, MEMBER_WRITE_ROLES
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role

MemberNo = Annotated[str, s.MEMBER_NO]


def _state(state: consents.ConsentState) -> dict:
    return {
        "purpose": state.purpose,
        "label": state.label,
        "granted": state.granted,
        "at": state.at.isoformat() if state.at else None,
        "channel": state.channel,
        "staff": state.staff,
        "text_version": state.text_version,
    }


@get(
    "/members/{member_no:str}/consents",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={200: s.ok(s.ConsentsOut, "Per purpose what is in force and its wording; the history, newest first.")},
)
async def member_consents(request: Request, member_no: MemberNo) -> dict:
    """The member's consent per purpose (with the current wording to show) and every grant and withdrawal; the
    read is audited; 404 when the member is unknown."""
    _, state, history = await consents.consents_for(member_no, actor=request.user)
    return {
        "member_no": member_no,
        "text_version": consents.TEXT_VERSION,
        "consents": [{**_state(state[p]), "text": consents.purpose_text(p)} for p in consents.ALL_PURPOSES],
        "history": [_state(h) for h in history],
    }


@post(
    "/members/{member_no:str}/consents",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["members"],
    responses={
        201: s.ok(s.ConsentChange, "The grant or withdrawal, recorded now (append-only ledger)."),
        200: s.ok(s.ConsentChange, "That state was already in force with this wording: nothing recorded."),
    },
)
async def change_consent(request: Request, member_no: MemberNo, data: JSONBody[s.ConsentIn]) -> Response:
    """Grant or withdraw one purpose now, by the token's staff member: 201 when recorded, 200 when that state
    was already in force; 422 (unknown wording version), 404 when the member is unknown."""
    state, recorded = await consents.record_consent(
        member_no, data.purpose, data.granted, actor=request.user, channel=data.channel, text_version=data.text_version
    )
    return Response(
        {**_state(state), "member_no": member_no, "recorded": recorded}, status_code=201 if recorded else 200
    )


ROUTES = [member_consents, change_consent]
