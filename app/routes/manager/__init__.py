"""The manager surface (`/manager`, a phone): overview, catalog, stock, loyalty rules, coupons, counter tablets,
the chain's counter settings, care journeys, the message outbox, the job queue and the audit trail. Every route
admits the manager roles; many narrow it."""

from litestar import Router

from app.components.core.roles import MANAGER_ROLES
from app.routes.guards import requires_role
from app.routes.manager import (
    adherence,
    audit,
    catalog,
    chain_settings,
    coupons,
    devices,
    events,
    journeys,
    loyalty,
    message_settings,
    messages,
    overview,
    queue_monitor,
    stock,
    tasks,
)

router = Router(
    path="/manager",
    guards=[requires_role(MANAGER_ROLES)],
    include_in_schema=False,
    route_handlers=[
        *overview.ROUTES,
        *audit.ROUTES,
        *stock.ROUTES,
        *chain_settings.ROUTES,
        *catalog.ROUTES,
        *loyalty.ROUTES,
        *coupons.ROUTES,
        *devices.ROUTES,
        *journeys.ROUTES,
        *adherence.ROUTES,
        *tasks.ROUTES,
        *queue_monitor.ROUTES,
        *events.ROUTES,
        *message_settings.ROUTES,
        *messages.ROUTES,
    ],
)

__all__ = ["router"]
