"""Counter tablets at the counter: the first visit names the tablet (its cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.response import Template

from app.components import sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import SALE_ROLES
from app.routes.render import FORM, go, render

DEVICE_PAGE = "counter/device.html"


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


@get("/device")
async def device_page(request: Request) -> Template:
    """Name this tablet (the counter shows the same form on a tablet's first visit)."""
    return render(request, DEVICE_PAGE, await device_page_ctx(request))


@dataclass
class DeviceForm:
    """The tablet's name as typed."""

    name: str = ""


@post("/device")
async def device_register(request: Request, data: Annotated[DeviceForm, FORM]) -> Response | Template:
    """Register this tablet for the user's store (audited); its cookie keeps a random token for good."""
    try:
        _device, token = await sales.register(request.user, data.name)
    except ValidationFailed as exc:
        return render(request, DEVICE_PAGE, await device_page_ctx(request, data.name, exc.errors), status_code=422)
    response = go(request, "/counter")
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


ROUTES = [device_page, device_register]
