"""The Litestar application factory: the surfaces' routers, templates, CSRF, identity, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jinja2 import select_autoescape
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.db import engine
from app.i18n import LANGUAGES, current_language, gettext, list_separator, ngettext
from app.redis import close_redis
from app.routes import api, auth, counter, kiosk, manager, members, system
from app.routes.api import schema
from app.routes.errors import EXCEPTION_HANDLERS
from app.routes.middleware import IdentityMiddleware
from app.settings import ROOT, get_settings
from app.templating import LocalizedEnvironment, TranslatingLoader, register_filters

HTMX_VERSION = "2.0.8"


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
            counter.router,
            members.router,
            manager.router,
            kiosk.router,
            api.router,
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
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[_lifespan],
        debug=settings.debug,
    )
