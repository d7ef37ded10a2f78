"""Held sales: put the open sale aside, list the store's held sales, resume one on this tablet."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Template

from app.components import sales
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import (
    SALE_ROLES,
)
from app.routes.counter.context import CART_TEMPLATE, PAGE, cart_ctx, change_key, page_ctx
from app.routes.guards import requires_role
from app.routes.params import RowId
from app.routes.render import go, render, wants_partial

guard = [requires_role(SALE_ROLES)]


@post("/cart/park", guards=guard)
async def cart_park(request: Request) -> Template:
    """Hold the sale (it waits in the store's held sales) and start a fresh one; the member panel is cleared."""
    cart = await sales.park(request.user, key=change_key(request))
    if not wants_partial(request):
        return render(request, PAGE, await page_ctx(request))
    return render(request, CART_TEMPLATE, await cart_ctx(request, cart=cart, clear_member=True, parked=True))


@get("/held", guards=guard)
async def held_list(request: Request) -> Template:
    """The store's held sales: who parked each, when, for whom, what and how much; a tap resumes one here."""
    return render(request, "counter/held.html", {"held": await sales.held_sales(request.user), "errors": {}})


@post("/held/{cart_id:int}/resume", guards=guard)
async def held_resume(request: Request, cart_id: RowId) -> Response | Template:
    """Take a held sale back to this tablet (what is open here is held in its place) and show the counter."""
    try:
        await sales.resume(request.user, cart_id, key=change_key(request))
    except (ValidationFailed, NotFound) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else {"resume": exc.message}
        ctx = {"held": await sales.held_sales(request.user), "errors": errors}
        return render(request, "counter/held.html", ctx, block="held_list", status_code=409)
    return go(request, "/counter")


ROUTES = [cart_park, held_list, held_resume]
