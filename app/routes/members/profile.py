"""The member profile (360° view) at the counter: header, then sections that load as htmx partials; the
timeline and purchases sections."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from app.components import adherence, health, members, sales
from app.components.core.clock import store_today
from app.components.core.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render

guard = [requires_role(COUNTER_ROLES)]
# Each name is served at GET /members/{member_no}/{name} by the module that owns it.
PROFILE_SECTIONS = [
    "details",
    "health",
    "vitals",
    "adherence",
    "purchases",
    "points",
    "consents",
    "household",
    "merge",
    "timeline",
]


@get("/{member_no:str}", guards=guard)
async def profile(request: Request, member_no: FromPath[str]) -> Template:
    """The whole profile; each section below the header loads itself from its own URL."""
    member = await members.get_member(member_no, actor=request.user, detail="profile")
    return render(request, "members/profile.html", {"member": member, "profile_sections": PROFILE_SECTIONS})


@get("/{member_no:str}/timeline", guards=guard)
async def timeline_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's timeline, newest first (it names conditions and readings, so the view is audited)."""
    events = await health.member_timeline(member_no, actor=request.user)
    return render(
        request, "members/timeline.html", {"member_no": member_no, "events": events}, block="timeline_section"
    )


@get("/{member_no:str}/purchases", guards=guard)
async def purchases_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's latest purchases and the medicines they are taking (audited: medicines are health data)."""
    found = await sales.history(member_no, actor=request.user)
    return render(
        request, "members/purchases.html", {"member_no": member_no, "history": found}, block="purchases_section"
    )


@get("/{member_no:str}/adherence", guards=guard)
async def adherence_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's chronic therapies: refill-due day and PDC over 180 days (audited: health data)."""
    member_id = await members.member_id(member_no)
    therapies = await adherence.adherence_record(member_id, store_today(), request.user)
    ctx = {"member_no": member_no, "therapies": therapies}
    return render(request, "members/adherence.html", ctx, block="adherence_section")


ROUTES = [profile, timeline_section, purchases_section, adherence_section]
