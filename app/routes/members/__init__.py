"""The member surface (`/members`): the list, the profile and its sections (details, health, vitals, points,
consents, household, merge, timeline), imports and exports. The counter and the manager both open it; each
route names the roles it admits, and none is open without a login."""

from litestar import Router

from app.components.core.roles import ALL_ROLES
from app.routes.guards import requires_role
from app.routes.members import (
    consents,
    details,
    health,
    households,
    imports,
    member_list,
    merge,
    points,
    profile,
)

router = Router(
    path="/members",
    guards=[requires_role(ALL_ROLES)],
    include_in_schema=False,
    route_handlers=[
        *member_list.ROUTES,
        *imports.ROUTES,
        *profile.ROUTES,
        *details.ROUTES,
        *health.ROUTES,
        *points.ROUTES,
        *consents.ROUTES,
        *households.ROUTES,
        *merge.ROUTES,
    ],
)

__all__ = ["router"]
