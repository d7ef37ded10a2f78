"""Counter tablets: the first visit names the tablet (its cookie), a store manager lists and revokes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES, SALE_ROLES, Role
from app.routes.guards import requires_role
from app.routes.render import FORM, render

DEVICE_PAGE = "counter/device.html"
DEVICES_PAGE = "manager/devices.html"
manager_guard = [requires_role(Role.STORE_MANAGER)]


async def with_counter_device(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A guard that admits everyone its route admits and gives a selling actor the tablet its cookie names.

    The cart belongs to the tablet as well as the person (app.components.cart): without a registered tablet of
    their store a selling actor has no cart, and the cart component says so (devices.DeviceRequired).
    """
    user = connection.scope.get("user")
    if user is None or user.role not in SALE_ROLES:
        return
    device = await sales.from_token(connection.cookies.get(sales.DEVICE_COOKIE))
    connection.scope["user"] = sales.with_device(user, device)  # type: ignore[typeddict-unknown-key]


def device_required(request: Request, exc: Exception) -> Response:
    """A cart action from a tablet that is not (or no longer) registered: to the counter, which asks its name."""
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=409, headers={"HX-Redirect": "/counter"})
    return Redirect("/counter", status_code=303)


def needs_device(request: Request) -> bool:
    """A selling actor at a tablet that has no (valid) registration."""
    return request.user.role in SALE_ROLES and sales.device_id(request.user) is None


async def device_page_ctx(request: Request, name: str = "", errors: dict | None = None) -> dict:
    """The naming page: the store it is for and, if the cookie names another store's tablet, which one."""
    other = await sales.from_token(request.cookies.get(sales.DEVICE_COOKIE))
    return {
        "name": name,
        "errors": errors or {},
        "other_store": other.store_name if other is not None and other.store_id != request.user.store_id else "",
    }


@get("/counter/device", guards=[requires_role(COUNTER_ROLES)])
async def device_page(request: Request) -> Template:
    """Name this tablet (the counter shows the same form on a tablet's first visit)."""
    return render(request, DEVICE_PAGE, await device_page_ctx(request))


@dataclass
class DeviceForm:
    """The tablet's name as typed."""

    name: str = ""


@post("/counter/device", guards=[requires_role(COUNTER_ROLES)])
async def device_register(request: Request, data: Annotated[DeviceForm, FORM]) -> Response | Template:
    """Register this tablet for the user's store (audited); its cookie keeps a random token for good."""
    try:
        _device, token = await sales.register(request.user, data.name)
    except ValidationFailed as exc:
        return render(request, DEVICE_PAGE, await device_page_ctx(request, data.name, exc.errors), status_code=422)
    response: Response = Redirect("/counter", status_code=303)
    if request.headers.get("hx-request") == "true":
        response = Response("", status_code=200, headers={"HX-Redirect": "/counter"})
    response.set_cookie(
        sales.DEVICE_COOKIE,
        token,
        max_age=sales.COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def _devices_ctx(request: Request, **extra: object) -> dict:
    found = await sales.of_store(request.user.store_id) if request.user.store_id else []
    return {"devices": found, "this_device": sales.device_id(request.user), **extra}


@get("/manager/devices", guards=[*manager_guard, with_counter_device])
async def devices_list(request: Request) -> Template:
    """The store's counter tablets: who registered each and when, and which are revoked."""
    return render(request, DEVICES_PAGE, await _devices_ctx(request), block="devices_list")


@post("/manager/devices/{device_id:int}/revoke", guards=[*manager_guard, with_counter_device])
async def device_revoke(request: Request, device_id: FromPath[int]) -> Template:
    """Withdraw a tablet: it is asked to be named again; what was open on it waits in the held sales."""
    revoked = await sales.revoke_device(request.user, device_id)
    return render(request, DEVICES_PAGE, await _devices_ctx(request, revoked=revoked), block="devices_list")


ROUTES = [device_page, device_register, devices_list, device_revoke]
