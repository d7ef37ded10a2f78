"""Sign-in housekeeping: the session purge every ten minutes."""

from __future__ import annotations

from typing import Any

from app.components import auth


async def purge_sessions(ctx: dict[str, Any]) -> int:
    """Remove staff sessions past their absolute lifetime."""
    return await auth.purge_stale_sessions()
