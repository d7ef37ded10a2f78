"""Per-request identity and language: session cookie or API bearer token → `scope["user"]`."""

from __future__ import annotations

from http.cookies import SimpleCookie

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.components.auth import authenticate_token, load_session
from app.i18n import current_language, normalize_language

SESSION_COOKIE = "ys_session"
LANG_COOKIE = "ys_lang"


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            return {k: m.value for k, m in jar.items()}
    return {}


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return value.decode("latin-1")
    return None


class IdentityMiddleware(ASGIMiddleware):
    """Sets `scope["user"]` (a StaffUser or None) and the request's UI language."""

    scopes = ("http",)
    exclude_path_pattern = ("^/static/",)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        client = scope.get("client")
        client_addr = client[0] if client else ""
        cookies = _cookies(scope)
        user = None
        if path.startswith("/api/"):
            auth = _header(scope, b"authorization") or ""
            if auth.lower().startswith("bearer "):
                user = await authenticate_token(auth[7:].strip())
            if user:
                user = user.with_request(client_addr, "api")
        elif session_id := cookies.get(SESSION_COOKIE):
            user = await load_session(session_id)
            if user:
                user = user.with_request(client_addr, "web")
        scope["user"] = user
        scope["auth"] = None
        language = normalize_language((user.language if user else None) or cookies.get(LANG_COOKIE))
        token = current_language.set(language)
        try:
            await next_app(scope, receive, send)
        finally:
            current_language.reset(token)
