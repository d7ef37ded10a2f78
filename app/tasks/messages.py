"""The message sender job: every minute, sends what is due (claimed set-based; a dead worker's claims expire)."""

from __future__ import annotations

from typing import Any

from app.components import messages


async def send_messages(ctx: dict[str, Any]) -> int:
    """Send the due messages, batch after batch until none is left; returns how many were claimed."""
    total = 0
    while True:
        report = await messages.send_due()
        total += report.claimed
        if report.claimed < messages.BATCH:
            return total
