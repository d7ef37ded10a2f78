"""Care jobs: the daily trigger sweep and the step runner (both driven by the database, so a lost job is redone)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

from app.components.care import run_due, sweep
from app.components.core.clock import store_today
from app.settings import get_settings


async def sweep_triggers(ctx: dict[str, Any], day: str | None = None) -> int:
    """Enrol members for today's date-driven triggers (resumes a sweep a crash stopped; repeats add nothing).
    `day` (ISO date) evaluates another day instead: the bench, or an administrator catching up by hand."""
    on = date.fromisoformat(day) if day else store_today()
    return await sweep(on, get_settings().timezone, datetime.now(UTC))


async def run_steps(ctx: dict[str, Any]) -> dict[str, int]:
    """Run every due journey step once (messages, tasks and coupons in each step's own transaction)."""
    result = await run_due(datetime.now(UTC))
    return dataclasses.asdict(result)
