"""The member profile (360° view) at the counter: header, then sections that load as htmx partials."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from app.components import coupons, health, loyalty, members, purchases
from app.components.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render

guard = [requires_role(COUNTER_ROLES)]
# Each name is served at GET /members/{member_no}/{name} by the module that owns it.
PROFILE_SECTIONS = ["details", "health", "vitals", "purchases", "points", "consents", "household", "merge", "timeline"]


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


@get("/members/{member_no:str}/purchases", guards=guard)
async def purchases_section(request: Request, member_no: FromPath[str]) -> Template:
    """The member's latest purchases and the medicines they are taking (audited: medicines are health data)."""
    found = await purchases.history(member_no, actor=request.user)
    return render(request, "members/_purchases.html", {"member_no": member_no, "history": found})


@get("/members/{member_no:str}/points", guards=guard)
async def points_section(request: Request, member_no: FromPath[str]) -> Template:
    """Points balance, tier, what expires when, the ledger and the member's coupons."""
    member_id = await members.member_id(member_no)
    statement = await loyalty.statement(member_id, per_page=20)
    wallet = await coupons.wallet(member_id, members.store_today())
    ctx = {"member_no": member_no, "statement": statement, "coupons": wallet, "kind_label": loyalty.kind_label}
    return render(request, "members/_points.html", ctx)


ROUTES = [profile, timeline_section, purchases_section, points_section]
