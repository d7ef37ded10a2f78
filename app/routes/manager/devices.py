"""The store's counter tablets for its store manager: who registered each and when; revoke one."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.components import sales
from app.components.core.roles import Role
from app.routes.guards import requires_role, with_counter_device
from app.routes.render import render

DEVICES_PAGE = "manager/devices.html"
# with_counter_device: the list marks the tablet the manager stands at.
guard = [requires_role(Role.STORE_MANAGER), with_counter_device]


async def _devices_ctx(request: Request, **extra: object) -> dict:
    found = await sales.of_store(request.user.store_id) if request.user.store_id else []
    return {"devices": found, "this_device": sales.device_id(request.user), **extra}


@get("/devices", guards=guard)
async def devices_list(request: Request) -> Template:
    """The store's counter tablets: who registered each and when, and which are revoked."""
    return render(request, DEVICES_PAGE, await _devices_ctx(request), block="devices_list")


@post("/devices/{device_id:int}/revoke", guards=guard)
async def device_revoke(request: Request, device_id: FromPath[int]) -> Template:
    """Withdraw a tablet: it is asked to be named again; what was open on it waits in the held sales."""
    revoked = await sales.revoke_device(request.user, device_id)
    return render(request, DEVICES_PAGE, await _devices_ctx(request, revoked=revoked), block="devices_list")


ROUTES = [devices_list, device_revoke]
