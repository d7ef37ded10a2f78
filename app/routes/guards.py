"""Role guards: every route names the roles it admits, or declares itself public; the counter tablet guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.components import sales
from app.components.core.roles import SALE_ROLES

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]


def requires_role(*roles: str | Iterable[str]) -> Guard:
    """A guard admitting a logged-in user whose role is among `roles` (role names or sets of them).

    OPTIONS passes: a surface's router carries its guard, and Litestar gives each path's own OPTIONS answer (the
    methods it allows, nothing else) the router's guards too; it was never guarded.
    """
    allowed: set[str] = set()
    for role in roles:
        allowed.update([role] if isinstance(role, str) else role)
    frozen = frozenset(allowed)

    # async: Litestar runs a plain-function guard in a worker thread; that hop was ~5 % of a counter lookup.
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if user is not None and user.role in frozen:
            return
        if connection.scope["method"] == "OPTIONS":
            return
        if user is None:
            raise NotAuthorizedException(detail="login required")
        raise PermissionDeniedException(detail="role not permitted")

    guard.allowed_roles = frozen  # type: ignore[attr-defined]
    return guard


def allowed_roles(handler: BaseRouteHandler) -> frozenset[str] | None:
    """The roles a handler's guards admit (its router's and its own), or None for a public handler."""
    roles: frozenset[str] | None = None
    for guard in handler.resolve_guards():
        found = getattr(getattr(guard, "func", guard), "allowed_roles", None)
        if found is not None:
            roles = found if roles is None else roles & found
    return roles


async def with_counter_device(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A guard that admits everyone its route admits and gives a selling actor the tablet its cookie names.

    The cart belongs to the tablet as well as the person (app.components.sales): without a registered tablet of
    their store a selling actor has no cart, and the cart component says so (sales.DeviceRequired).
    """
    user = connection.scope.get("user")
    if user is None or user.role not in SALE_ROLES:
        return
    device = await sales.from_token(connection.cookies.get(sales.DEVICE_COOKIE))
    connection.scope["user"] = sales.with_device(user, device)  # type: ignore[typeddict-unknown-key]
