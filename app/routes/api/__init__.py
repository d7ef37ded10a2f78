"""The JSON API v1 (`/api/v1`, a bearer token): members, consents, sales and returns, the catalog, stock, points,
member imports, SMS replies. Every handler names the roles it admits (the schema documents a 403 from them) and is
documented with each error it answers; each path answers OPTIONS with all of its methods."""

from litestar import Router

from app.components.core.roles import ALL_ROLES
from app.routes.api import (
    adherence,
    catalog,
    consents,
    imports,
    journeys,
    loyalty,
    members,
    messages,
    sales,
    schema,
    stock,
    tasks,
)
from app.routes.guards import requires_role

HANDLERS = [
    *members.ROUTES,
    *consents.ROUTES,
    *adherence.ROUTES,
    *sales.ROUTES,
    *catalog.ROUTES,
    *stock.ROUTES,
    *loyalty.ROUTES,
    *imports.ROUTES,
    *journeys.ROUTES,
    *tasks.ROUTES,
    *messages.ROUTES,
]

router = Router(
    path="/api/v1",
    guards=[requires_role(ALL_ROLES)],
    # The OPTIONS handlers first: no path gets Litestar's own (whose `Allow` misses methods registered later).
    route_handlers=[*schema.options_handlers(HANDLERS), *(schema.document(h) for h in HANDLERS)],
)

__all__ = ["router"]
