"""The Litestar application factory: routes, templates, CSRF, identity, error pages."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from urllib.parse import quote

from jinja2 import select_autoescape
from litestar import Litestar, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import DeviceRequired
from app.db import engine
from app.i18n import LANGUAGES, N_, _, current_language, gettext, list_separator, ngettext
from app.redis import close_redis
from app.routes import api, api_consents, auth, counter, kiosk, manager, members, profile, registration, system
from app.routes import api_schema as schema
from app.routes import catalog as catalog_routes
from app.routes import chain_settings as chain_settings_routes
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
        messages = (
            list(exc.errors.values())
            if isinstance(exc, ValidationFailed)
            else [item["message"] for item in _validation_errors(exc)]  # type: ignore[arg-type]
        )
        return _page(
            request,
            422,
            _("Check your input"),
            "; ".join(messages) or _("The form could not be read. Reload the page and try again."),
        )
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_json(), status_code=422)
    assert isinstance(exc, ValidationException)
    return Response({"errors": _validation_errors(exc)}, status_code=422)


# What msgspec and Litestar say about a request that does not fit its declared types, to readable messages.
_TYPE_NAMES = {
    "int": N_("a whole number"),
    "float": N_("a number"),
    "str": N_("text"),
    "bool": N_("true or false"),
    "object": N_("an object"),
    "array": N_("a list"),
    "null": N_("null"),
}
_EXPECTED = re.compile(r"Expected `(\w+)`, got `(\w+)`")
_BOUND = re.compile(r"Expected `(?:int|float)` (>=|<=|>|<) (-?[\d.e+]+)")
_LENGTH = re.compile(r"Expected `(str|array|object)` of length (>=|<=) (\d+)")
_MISSING_FIELD = re.compile(r"Object missing required field `(.+)`")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.+)`")
_ENUM = re.compile(r"Invalid enum value (.+)")
_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '(.+?)'")


def _field_path(key: str | None) -> str | None:
    """Litestar's key of a body field (`lines[0].qty`, `data` for the body itself) as the API's field names are
    spelled (`lines.0.qty`; None for the body)."""
    if not key or key == "data":
        return None
    return re.sub(r"\[(\d+)\]", r".\1", key).removeprefix("data.")


def _readable(key: str | None, message: str) -> dict[str, str | None]:
    """One error item with a message a person can act on, in the request's language."""
    field = _field_path(key)
    joined = lambda name: f"{field}.{name}" if field else name  # noqa: E731
    if message in ("'data'", "Object missing required field `data`") and field is None:
        return {"field": None, "message": _("The request needs a JSON body: an object with the fields it takes.")}
    if found := _MISSING_FIELD.fullmatch(message):
        return {"field": joined(found[1]), "message": _("This field is required.")}
    if found := _UNKNOWN_FIELD.fullmatch(message):
        return {"field": joined(found[1]), "message": _("Unknown field: this request does not take it.")}
    if found := _EXPECTED.fullmatch(message):
        return {
            "field": field,
            "message": _("Expected %(expected)s, got %(got)s.")
            % {"expected": _(_TYPE_NAMES.get(found[1], found[1])), "got": _(_TYPE_NAMES.get(found[2], found[2]))},
        }
    if found := _BOUND.fullmatch(message):
        number = found[2].removesuffix(".0")
        texts = {
            ">=": _("Must be at least %(n)s."),
            "<=": _("Must be at most %(n)s."),
            ">": _("Must be more than %(n)s."),
            "<": _("Must be less than %(n)s."),
        }
        return {"field": field, "message": texts[found[1]] % {"n": number}}
    if found := _LENGTH.fullmatch(message):
        n = int(found[3])
        if found[1] == "str":
            text = _("At least %(n)s characters.") if found[2] == ">=" else _("At most %(n)s characters.")
        else:
            text = _("At least %(n)s items.") if found[2] == ">=" else _("At most %(n)s items.")
        return {"field": field, "message": text % {"n": n}}
    if message.startswith("Expected `str` matching regex"):
        return {"field": field, "message": _("Not in the expected form (see the API schema).")}
    if found := _ENUM.fullmatch(message):
        return {"field": field, "message": _("%(value)s is not one of the allowed values.") % {"value": found[1]}}
    if message.startswith("Invalid RFC3339 encoded date"):
        return {"field": field, "message": _("Enter a date as YYYY-MM-DD.")}
    if message == "Number out of range":
        return {"field": field, "message": _("The number is out of range.")}
    if found := _MISSING_PARAMETER.match(message):
        return {"field": found[2], "message": _("This parameter is required.")}
    return {"field": field, "message": message}


def _validation_errors(exc: ValidationException) -> list[dict[str, str | None]]:
    """A ValidationException's items (or its detail) as the API's error list."""
    items = [item for item in exc.extra or [] if isinstance(item, dict)] if isinstance(exc.extra, list) else []
    if not items:
        return [_readable(None, str(exc.detail))]
    return [_readable(item.get("key"), str(item.get("message", "invalid"))) for item in items]


def _http_error(request: Request, exc: HTTPException) -> Response:
    if _is_api(request):
        message = str(exc.detail)
        if isinstance(exc.__cause__, SerializationException):  # the body could not be decoded at all
            detail = message.removeprefix("JSON is malformed: ")
            message = _("The body is not valid JSON (%(detail)s).") % {"detail": detail}
        return Response(
            {"errors": [{"field": None, "message": message}]}, status_code=exc.status_code, headers=exc.headers
        )
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


def _is_api_handler(handler: object) -> bool:
    return isinstance(handler, HTTPRouteHandler) and all(p.startswith("/api/") for p in handler.paths)


def _route_layers(handlers: Iterable[object]) -> list[object]:
    """The API handlers, each documented with its error answers, and one router for the rest: the pages and
    their forms stay out of the public API schema (they are the browser's, with a session cookie and CSRF)."""
    handlers = list(handlers)
    pages = [h for h in handlers if not _is_api_handler(h)]
    api_handlers: list[HTTPRouteHandler] = [h for h in handlers if _is_api_handler(h)]  # type: ignore[misc]
    return [
        Router(path="/", route_handlers=pages, include_in_schema=False),  # type: ignore[arg-type]
        *schema.options_handlers(api_handlers),  # first: no path gets Litestar's own
        *(schema.document(h) for h in api_handlers),
    ]


def create_app() -> Litestar:
    """Build the application."""
    settings = get_settings()
    return Litestar(
        route_handlers=_route_layers(
            [
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
                *chain_settings_routes.ROUTES,
                *api.ROUTES,
                *api_consents.ROUTES,
                *sales_api_routes.ROUTES,
                create_static_files_router(path="/static", directories=[ROOT / "static"], name="static"),
            ]
        ),
        middleware=[IdentityMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="ys_csrf",
            header_name="x-csrftoken",
            # Bearer-token clients cannot be driven by a foreign page, so the API needs no CSRF token.
            exclude=["^/api/"],
        ),
        template_config=TemplateConfig(instance=template_engine()),
        plugins=[HTMXPlugin(), schema.BodySchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title="Yaoshi API",
            version="1",
            description=(
                "POS/ERP integration. Every request carries `Authorization: Bearer <token>` (`yaoshi token add`). "
                'Errors are `{"errors": [{"field", "message"}]}` with messages in the request\'s '
                "Accept-Language (Chinese by default). Money is integer fen. A POST with an `idempotency_key` (or "
                "`key`) answers 200 with the first result when it is sent again."
            ),
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
