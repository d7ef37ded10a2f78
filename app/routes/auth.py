"""Login and logout pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.components import audit, sales
from app.components import auth as auth_component
from app.components.core.roles import home_path
from app.i18n import _, current_language, ngettext
from app.routes.middleware import SESSION_COOKIE
from app.routes.render import FORM, go, render


@dataclass
class LoginForm:
    """What the login page posts."""

    username: FromQuery[str] = ""
    password: str = ""
    next: FromQuery[str] = ""


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else ""


@get("/login", include_in_schema=False)
async def login_page(request: Request, next: FromQuery[str] = "") -> Template:
    """The login form."""
    return render(request, "auth/login.html", {"username": "", "next": _safe_next(next), "error": None})


@post("/login", include_in_schema=False)
async def login_submit(request: Request, data: Annotated[LoginForm, FORM]) -> Response:
    """Check credentials, rotate the session id, and go to the user's surface."""
    client_addr = request.client.host if request.client else ""
    result = await auth_component.login(data.username.strip(), data.password, client_addr)
    if result.user is None:
        if result.locked_for:
            minutes = max(1, (result.locked_for + 59) // 60)
            error = ngettext(
                "Too many failed attempts. Try again in %(num)d minute.",
                "Too many failed attempts. Try again in %(num)d minutes.",
                minutes,
            ) % {"num": minutes}
        else:
            error = _("Wrong username or password.")
        ctx = {"username": data.username, "next": _safe_next(data.next), "error": error}
        status = 429 if result.locked_for else 422
        return render(request, "auth/login.html", ctx, block="login_form", status_code=status)
    user = result.user.with_request(client_addr, "web")
    session_id = await auth_component.create_session(
        user, current_language.get(), old_session_id=request.cookies.get(SESSION_COOKIE)
    )
    await audit.record(user, audit.LOGIN)
    target = _safe_next(data.next) or home_path(user.role)
    response = go(request, target)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax", path="/")
    return response


@post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the session everywhere this cookie was used; the sale open on this tablet is held, so nothing is lost and
    nothing of it shows to whoever logs in next."""
    session_id = request.cookies.get(SESSION_COOKIE)
    user = request.scope.get("user")
    if user:
        device = await sales.from_token(request.cookies.get(sales.DEVICE_COOKIE))
        await sales.park_at_logout(sales.with_device(user, device))
    if session_id:
        await auth_component.end_session(session_id)
    if user:
        await audit.record(user, audit.LOGOUT)
    response = go(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = [login_page, login_submit, logout]
