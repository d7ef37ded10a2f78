"""The counter surface (`/counter`, a tablet with a scanner): the member panel, the cart and checkout, approvals,
held sales, returns, printouts, registration, the pharmacist's task queue and the tablet's own name.

Every route admits the counter roles (selling routes narrow it to the selling roles) and knows the tablet it is
asked from: the cart belongs to the tablet as well as the person.
"""

from litestar import Router

from app.components.core.roles import COUNTER_ROLES
from app.routes.counter import (
    approvals,
    cart,
    checkout,
    devices,
    held,
    page,
    printouts,
    registration,
    returns,
    tasks,
)
from app.routes.guards import requires_role, with_counter_device

router = Router(
    path="/counter",
    guards=[requires_role(COUNTER_ROLES), with_counter_device],
    include_in_schema=False,
    route_handlers=[
        *page.ROUTES,
        *cart.ROUTES,
        *approvals.ROUTES,
        *held.ROUTES,
        *checkout.ROUTES,
        *printouts.ROUTES,
        *returns.ROUTES,
        *registration.ROUTES,
        *devices.ROUTES,
        *tasks.ROUTES,
    ],
)

__all__ = ["router"]
