"""The member profile (360° view) at the counter: header, then sections that load as htmx partials."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from app.components import health, members
from app.components.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render

guard = [requires_role(COUNTER_ROLES)]
# Each name is served at GET /members/{member_no}/{name} by the module that owns it.
PROFILE_SECTIONS = ["details", "health", "vitals", "consents", "household", "merge", "timeline"]


@get("/members/{member_no:str}", guards=guard)
async def profile(request: Request, member_no: FromPath[str]) -> Template:
    """The whole profile; each section below the header loads itself from its own URL."""
    member = await members.get_member(member_no, actor=request.user, detail="profile")
    return render(request, "members/profile.html", {"member": member, "profile_sections": PROFILE_SECTIONS})


@get("/members/{member_no:str}/timeline", guards=guard)
async def timeline_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's timeline, newest first (it names conditions and readings, so the view is audited)."""
    events = await health.member_timeline(member_no, actor=request.user)
    return render(request, "members/_timeline.html", {"member_no": member_no, "events": events})


ROUTES = [profile, timeline_section]
