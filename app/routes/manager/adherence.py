"""Non-adherent patients for managers: below 80 % of days covered over 180 days, with their refill-due days;
a store manager sees their store's dispensings, HQ the chain's."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template

from app.components import adherence
from app.components.core import bounds
from app.components.core.clock import store_today
from app.components.core.roles import HQ_ROLES, MANAGER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render

PAGE = 50


@get("/adherence", guards=[requires_role(MANAGER_ROLES)])
async def non_adherent(request: Request, after: Annotated[int, Parameter(ge=0, le=bounds.MAX_ID)] = 0) -> Template:
    """A page of non-adherent patients, by member; "more" pages on from the last member shown."""
    store_id = None if request.user.role in HQ_ROLES else request.user.store_id
    rows = await adherence.non_adherent(store_id, store_today(), request.user, after_member=after, limit=PAGE + 1)
    more = len(rows) > PAGE
    if more:
        # The page ends on a whole member: the last member's other groups come first on the next page.
        last = rows[PAGE - 1].member_id
        rows = [r for r in rows[:PAGE] if r.member_id != last] or rows[:PAGE]
    next_after = rows[-1].member_id if more and rows else None
    return render(request, "manager/adherence.html", {"patients": rows, "next_after": next_after})


ROUTES = [non_adherent]
