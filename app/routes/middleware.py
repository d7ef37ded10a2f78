"""Per-request identity and language: session cookie or API bearer token → `scope["user"]`."""

from __future__ import annotations

import asyncio

from litestar._parsers import parse_cookie_string
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.components.auth import authenticate_token, load_session
from app.i18n import current_language, normalize_language

SESSION_COOKIE = "ys_session"
LANG_COOKIE = "ys_lang"


def _cookies(scope: Scope) -> dict[str, str]:
    # Litestar's own parser (the one `request.cookies` uses), memoised per header value: a browser sends the same
    # Cookie header on every request, and SimpleCookie's regex parse was a noticeable share of a request.
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie_string(value.decode("latin-1"))
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
        # First come, first served under load: a handler runs to its end without yielding, so the event loop reads
        # new requests only between batches of them, and a request that arrived just after a read waited for the
        # whole next batch (a sixth of all sales at 16 counters waited twice as long as the rest). Yielding once
        # first lets every request that arrived meanwhile take its place in the queue before this one runs.
        await asyncio.sleep(0)
        # The path as requested: under a mounted app (the queue monitor) `path` is what is left after the mount.
        raw = scope.get("raw_path")
        path: str = raw.decode("latin-1") if raw else scope["path"]
        client = scope.get("client")
        client_addr = client[0] if client else ""
        cookies = _cookies(scope)
        user = None
        asked = None
        if path.startswith("/api/"):
            # An integration says which language its error messages should be in; pages follow the switch instead.
            asked = (_header(scope, b"accept-language") or "").split(",")[0].split(";")[0].strip() or None
            auth = _header(scope, b"authorization") or ""
            if auth.lower().startswith("bearer "):
                user = await authenticate_token(auth[7:].strip())
            if user:
                user = user.with_request(client_addr, "api")
        elif session_id := cookies.get(SESSION_COOKIE):
            user = await load_session(session_id, client_addr)
        scope["user"] = user
        scope["auth"] = None
        # The switch sets the cookie and the session alike; the cookie first, because another web process may still
        # hold the session as it was before the switch (for up to auth.SESSION_CACHE_SECONDS).
        language = normalize_language(cookies.get(LANG_COOKIE) or asked or (user.language if user else None))
        token = current_language.set(language)
        try:
            await next_app(scope, receive, send)
        finally:
            current_language.reset(token)
