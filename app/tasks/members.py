"""Member jobs: the nightly flag on profiles whose details were not confirmed for 12 months."""

from __future__ import annotations

from typing import Any

from app.components import members


async def flag_unverified_profiles(ctx: dict[str, Any]) -> int:
    """Flag members whose details were not confirmed for 12 months (the counter asks to confirm)."""
    return await members.flag_verification_due()
