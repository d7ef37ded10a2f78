"""Health, the benchmark's no-op route, the language switch and the root redirect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.response import Redirect

from app.components.auth import set_session_language
from app.components.core.roles import home_path
from app.i18n import normalize_language
from app.routes.middleware import LANG_COOKIE
from app.routes.render import FORM, is_htmx


@get("/healthz", media_type="text/plain", sync_to_thread=False, include_in_schema=False)
def healthz() -> str:
    """Liveness probe."""
    return "ok"


@get("/noop", media_type="text/plain", sync_to_thread=False, include_in_schema=False)
def noop() -> str:
    """The framework's own floor: `make bench` compares every measured route with this one."""
    return ""


@get("/", include_in_schema=False)
async def root(request: Request) -> Redirect:
    """Send a visitor to their surface, or to the login page."""
    user = request.scope.get("user")
    return Redirect(home_path(user.role) if user else "/login", status_code=303)


@dataclass
class LanguageForm:
    """The language switch."""

    language: str = ""
    next: str = "/"


@post("/language", include_in_schema=False)
async def switch_language(request: Request, data: Annotated[LanguageForm, FORM]) -> Response:
    """Change the UI language; kept in the session (and a cookie for the login page)."""
    language = normalize_language(data.language)
    user = request.scope.get("user")
    if user:
        await set_session_language(user, language)
    target = data.next if data.next.startswith("/") and not data.next.startswith("//") else "/"
    response = Redirect(target, status_code=303)
    if is_htmx(request):
        response = Response("", status_code=204, headers={"HX-Refresh": "true"})
    response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


ROUTES = [healthz, noop, root, switch_language]
