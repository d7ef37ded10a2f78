"""The message sender job: every minute, sends what is due (claimed set-based; a dead worker's claims expire)."""

from __future__ import annotations

import time
from typing import Any

from app.components import messages

# One run claims no new batch after this long; the job runs every minute, so the next one goes on.
SEND_BUDGET_S = 50.0


async def send_messages(ctx: dict[str, Any]) -> int:
    """Send the due messages, batch after batch until none is left or the budget is spent; how many were claimed."""
    total = 0
    deadline = time.monotonic() + SEND_BUDGET_S
    while time.monotonic() < deadline:
        report = await messages.send_due()
        total += report.claimed
        if report.claimed < messages.BATCH:
            break
    return total
