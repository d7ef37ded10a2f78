"""The care jobs through real processes and the real SAQ worker: killed mid-batch, Redis emptied, nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from app.components.care import steps
from app.db import fetch
from app.redis import get_redis
from app.tasks import worker as tasks
from app.tasks.queue import make_queue
from tests.components.care import care_data as cd
from tests.components.care.test_steps import TODAY, enrolled, messages_of
from tests.conftest import run_job_in_worker

ROOT = Path(__file__).resolve().parents[2]


async def test_a_worker_killed_in_the_middle_of_a_batch_leaves_every_message_exactly_once_after_recovery() -> None:
    members = await enrolled(members=6)
    when = cd.at_local(TODAY + timedelta(days=3), 10)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.tasks.care_crash_runner", when.isoformat(), "4", cwd=ROOT, env=os.environ
    )
    assert await proc.wait() == -signal.SIGKILL
    # The fourth step had queued its message inside its uncommitted transaction (on PostgreSQL a few steps run at
    # once, so how many others committed varies): exactly the committed steps have their message, the rest none.
    sent = [len(await messages_of(m)) for m in members]
    assert set(sent) <= {0, 1} and 0 < sent.count(0) < 6
    assert (await fetch("SELECT COUNT(*) AS n FROM journey_step_run"))[0]["n"] == sent.count(1)
    await steps.run_due(when)  # the next run (the cron's next tick) picks up the rest
    for m in members:
        assert len(await messages_of(m)) == 1
    assert (await fetch("SELECT COUNT(*) AS n FROM journey_step_run"))[0]["n"] == 6


async def test_a_step_job_lost_with_redis_is_done_by_the_next_tick_and_never_twice() -> None:
    members = await enrolled(members=3)
    await fetch(
        "UPDATE journey_enrolment SET next_due_on = {} WHERE status = 'active'", TODAY - timedelta(days=1)
    )  # due now, whatever today is
    queue = make_queue()
    await queue.connect()
    try:
        assert await queue.enqueue("run_steps") is not None
        # Redis restarts: it keeps nothing on disk here, so the queued job is gone.
        await get_redis().flushdb()
        await queue.redis.flushdb()
        assert await queue.count("queued") == 0
    finally:
        await queue.disconnect()
    for m in members:
        assert await messages_of(m) == []  # nothing ran, nothing was lost: the enrolments still say what is due
    await run_job_in_worker("run_steps")  # the cron's next tick
    await run_job_in_worker("run_steps")
    for m in members:
        assert len(await messages_of(m)) == 1


def test_the_schedule_runs_the_sweep_hourly_and_the_steps_every_five_minutes() -> None:
    crons = {c.function.__name__: c.cron for c in tasks.CRON_JOBS}
    assert crons["sweep_triggers"] == "5 * * * *"
    assert crons["run_steps"] == "*/5 * * * *"
