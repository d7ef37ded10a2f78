"""The Litestar application factory: routes, templates, CSRF, identity, error pages."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from jinja2 import select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.components.devices import DeviceRequired
from app.components.errors import NotFound, ValidationFailed
from app.db import engine
from app.i18n import LANGUAGES, _, current_language, gettext, list_separator, ngettext
from app.redis import close_redis
from app.routes import api, auth, counter, kiosk, manager, members, profile, registration, system
from app.routes import catalog as catalog_routes
from app.routes import consents as consent_routes
from app.routes import devices as device_routes
from app.routes import health as health_routes
from app.routes import households as household_routes
from app.routes import imports as import_routes
from app.routes import loyalty as loyalty_routes
from app.routes import member_list as member_list_routes
from app.routes import merge as merge_routes
from app.routes import sale as sale_routes
from app.routes import sales_api as sales_api_routes
from app.routes import stock as stock_routes
from app.routes.middleware import IdentityMiddleware
from app.routes.render import render
from app.settings import ROOT, get_settings
from app.templating import LocalizedEnvironment, TranslatingLoader, register_filters

HTMX_VERSION = "2.0.8"
log = logging.getLogger("yaoshi")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _page(request: Request, status: int, title: str, message: str) -> Response:
    """The error page, or just its notice when htmx will swap it into part of a page."""
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        block="error_notice",
        status_code=status,
    )


def _not_authorized(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "authentication required"}]}, status_code=401)
    target = "/login?next=" + quote(request.url.path)
    if _is_htmx(request):
        return Response("", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _forbidden(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "your role may not do this"}]}, status_code=403)
    return _page(request, 403, _("Not allowed"), _("Your role does not give access to this page."))


def _not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else _("No page at %(path)s.") % {"path": request.url.path}
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": message}]}, status_code=404)
    return _page(request, 404, _("Not found"), message)


def _invalid(request: Request, exc: Exception) -> Response:
    if not _is_api(request):
        return _page(
            request,
            422,
            _("Check your input"),
            "; ".join(getattr(exc, "errors", {}).values())
            or _("The form could not be read. Reload the page and try again."),
        )
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_json(), status_code=422)
    assert isinstance(exc, ValidationException)
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            errors.append({"field": item.get("key"), "message": item.get("message", "invalid")})
    return Response({"errors": errors or [{"field": None, "message": exc.detail}]}, status_code=422)


def _http_error(request: Request, exc: HTTPException) -> Response:
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": exc.detail}]}, status_code=exc.status_code)
    if exc.status_code == 403:
        # CSRF failures land here: the page is stale, so say how to recover.
        return _page(request, 403, _("Not allowed"), _("This form has expired. Reload the page and try again."))
    return _page(request, exc.status_code, _("Something went wrong"), str(exc.detail))


def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "internal error"}]}, status_code=500)
    return _page(request, 500, _("Something went wrong"), _("The error was logged. Please try again."))


def template_engine() -> JinjaTemplateEngine:
    """Jinja2 with gettext bound to the request's language."""
    env = LocalizedEnvironment(
        loader=TranslatingLoader(ROOT / "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        auto_reload=get_settings().debug,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        htmx_version=HTMX_VERSION,
        languages=LANGUAGES,
        current_language=lambda: current_language.get(),
        list_separator=list_separator,
    )
    register_filters(env)
    return JinjaTemplateEngine.from_environment(env)


def _settle(app: Litestar) -> None:
    """Before the first request: compile every template in every language, then move everything built so far
    out of the garbage collector's sight. The app's ~150,000 long-lived objects made each full collection a pause
    of up to 100 ms that every request in flight waited for; frozen, they are never traversed again."""
    env = app.template_engine.engine  # type: ignore[union-attr]
    for language in LANGUAGES:
        token = current_language.set(language)
        try:
            for name in env.list_templates(extensions=["html"]):
                env.get_template(name)
        finally:
            current_language.reset(token)
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    db = engine()
    if not get_settings().is_sqlite:
        await db.start_connection_pool(min_size=2, max_size=20)
    _settle(app)
    try:
        yield
    finally:
        if not get_settings().is_sqlite:
            await db.close_connection_pool()
        await close_redis()


def create_app() -> Litestar:
    """Build the application."""
    settings = get_settings()
    return Litestar(
        route_handlers=[
            *system.ROUTES,
            *auth.ROUTES,
            *counter.ROUTES,
            *sale_routes.ROUTES,
            *device_routes.ROUTES,
            *registration.ROUTES,
            *profile.ROUTES,
            *import_routes.ROUTES,
            *members.ROUTES,
            *consent_routes.ROUTES,
            *health_routes.ROUTES,
            *household_routes.ROUTES,
            *member_list_routes.ROUTES,
            *merge_routes.ROUTES,
            *kiosk.ROUTES,
            *manager.ROUTES,
            *catalog_routes.ROUTES,
            *loyalty_routes.ROUTES,
            *stock_routes.ROUTES,
            *api.ROUTES,
            *sales_api_routes.ROUTES,
            create_static_files_router(path="/static", directories=[ROOT / "static"], name="static"),
        ],
        middleware=[IdentityMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="ys_csrf",
            header_name="x-csrftoken",
            # Bearer-token clients cannot be driven by a foreign page, so the API needs no CSRF token.
            exclude=["^/api/"],
        ),
        template_config=TemplateConfig(instance=template_engine()),
        plugins=[HTMXPlugin()],
        openapi_config=OpenAPIConfig(
            title="Yaoshi API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
            ),
        ),
        exception_handlers={
            NotAuthorizedException: _not_authorized,
            PermissionDeniedException: _forbidden,
            NotFoundException: _not_found,
            NotFound: _not_found,
            ValidationFailed: _invalid,
            ValidationException: _invalid,
            DeviceRequired: device_routes.device_required,
            HTTPException: _http_error,
            500: _server_error,
        },
        lifespan=[_lifespan],
        debug=settings.debug,
    )
