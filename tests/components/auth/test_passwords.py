"""Password and PIN checks: right and wrong answers, and that a check never holds up the rest of the process."""

from __future__ import annotations

import asyncio

from app.components.auth import check_password, hash_password


async def test_a_check_answers_right_and_wrong_and_unknown() -> None:
    stored = hash_password("2468")
    assert await check_password(stored, "2468")
    assert not await check_password(stored, "2469")
    assert not await check_password(None, "2468")  # no such user: the same work, never a match
    assert not await check_password("not-an-argon2-hash", "2468")


async def test_other_requests_go_on_while_a_pin_is_checked() -> None:
    """An argon2 check costs tens of milliseconds of CPU: another request of the same process (a scan) is served
    while it runs, not after it."""
    stored = hash_password("2468")
    order: list[str] = []

    async def pin() -> None:
        assert await check_password(stored, "2468")
        order.append("pin checked")

    async def scan() -> None:
        order.append("scan answered")

    await asyncio.gather(pin(), scan())
    assert order == ["scan answered", "pin checked"]
