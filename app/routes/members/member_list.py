"""The member list: store roles see their store's members, HQ roles the chain's; search and paging."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from app.components import members
from app.components.core.roles import COUNTER_ROLES, MANAGER_ROLES
from app.routes.params import Page
from app.routes.render import render


@get("/")
async def members_page(request: Request, q: FromQuery[str] = "", page: Page = 1) -> Template:
    """Search by name prefix, member number or exact phone; newest members first when browsing."""
    user = request.user
    result = await members.search(user, q, page=page)
    ctx = {
        "result": result,
        # A store manager keeps the manager's menu (which leads back to the counter too).
        "layout": "_layouts/manager.html" if user.role in MANAGER_ROLES else "_layouts/counter.html",
        "can_open": user.role in COUNTER_ROLES,
    }
    return render(request, "members/list.html", ctx, block="member_results")


ROUTES = [members_page]
