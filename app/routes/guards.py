"""Role guards: every route names the roles it admits, or declares itself public."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]


def requires_role(*roles: str | Iterable[str]) -> Guard:
    """A guard admitting a logged-in user whose role is among `roles` (role names or sets of them)."""
    allowed: set[str] = set()
    for role in roles:
        allowed.update([role] if isinstance(role, str) else role)
    frozen = frozenset(allowed)

    # async: Litestar runs a plain-function guard in a worker thread; that hop was ~5 % of a counter lookup.
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if user is None:
            raise NotAuthorizedException(detail="login required")
        if user.role not in frozen:
            raise PermissionDeniedException(detail="role not permitted")

    guard.allowed_roles = frozen  # type: ignore[attr-defined]
    return guard


def allowed_roles(handler: BaseRouteHandler) -> frozenset[str] | None:
    """The roles a handler's guards admit, or None for a public handler."""
    roles: frozenset[str] | None = None
    for guard in handler.resolve_guards():
        found = getattr(getattr(guard, "func", guard), "allowed_roles", None)
        if found is not None:
            roles = found if roles is None else roles & found
    return roles
