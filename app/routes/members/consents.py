"""The consents section of the profile: what is in force per purpose, grant and withdraw, the full history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import consents
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

TEMPLATE = "members/consents.html"
BLOCK = "consents_section"
CHANGED_EVENT = "consentChanged"  # the health and vitals sections reload on it
guard = [requires_role(COUNTER_ROLES)]


@dataclass
class ConsentForm:
    """One button press: a purpose and grant or withdraw."""

    purpose: str = ""
    action: str = ""


async def _section(
    request: Request,
    member_no: str,
    status_code: int = 200,
    errors: dict | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    _, state, history = await consents.consents_for(member_no, actor=request.user)
    ctx = {
        "member_no": member_no,
        "state": [state[p] for p in consents.ALL_PURPOSES],
        "history": history,
        "errors": errors or {},
        "text_version": consents.TEXT_VERSION,
        "purpose_text": consents.purpose_text,
        "channel_label": consents.channel_label,
    }
    return render(request, TEMPLATE, ctx, block=BLOCK, status_code=status_code, headers=headers)


@get("/{member_no:str}/consents", guards=guard)
async def consents_section(request: Request, member_no: FromPath[str]) -> Template:
    """Consent per purpose with time, channel, staff and text version; the append-only history below."""
    return await _section(request, member_no)


@post("/{member_no:str}/consents", guards=guard)
async def change_consent(request: Request, member_no: FromPath[str], data: Annotated[ConsentForm, FORM]) -> Response:
    """Grant or withdraw one purpose now; the section comes back with the new state."""
    try:
        if data.action not in ("grant", "withdraw"):
            raise ValidationFailed({"action": _("Choose grant or withdraw.")})
        await consents.change_consent(member_no, data.purpose, data.action == "grant", actor=request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, status_code=422, errors=exc.errors)
    if not wants_partial(request):
        return Redirect(f"/members/{member_no}", status_code=303)
    # Sections that depend on consent (the health archive) may listen for this event and reload.
    return await _section(request, member_no, headers={"HX-Trigger": CHANGED_EVENT})


ROUTES = [consents_section, change_consent]
