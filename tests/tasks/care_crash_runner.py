"""Run the care step runner in its own process and SIGKILL it from inside the Nth step's effect (a worker killed
mid-batch, before that step's transaction commits); used by tests/tasks/test_care.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime

from app.components.care import effects, steps
from app.db import engine, is_sqlite


async def main(when: datetime, kill_at: int) -> None:
    if not is_sqlite():
        await engine().start_connection_pool(min_size=1, max_size=2)
    real = effects.run
    calls = 0

    async def run_then_die(*args: object, **kwargs: object) -> tuple[str, str]:
        nonlocal calls
        calls += 1
        result = await real(*args, **kwargs)  # type: ignore[arg-type]
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # the effect is written, its transaction not committed
        return result

    effects.run = run_then_die  # type: ignore[assignment]
    await steps.run_due(when, batch=2)


if __name__ == "__main__":
    asyncio.run(main(datetime.fromisoformat(sys.argv[1]), int(sys.argv[2])))
