"""SAQ worker settings: the queue on `REDIS_URL`, every job function and the cron schedule, the pools to open."""

from __future__ import annotations

from typing import Any

from saq import CronJob

from app.components import care
from app.db import engine
from app.redis import close_redis
from app.settings import get_settings
from app.tasks.auth import purge_sessions
from app.tasks.care import run_steps, sweep_triggers
from app.tasks.events import dispatch_events
from app.tasks.imports import import_members
from app.tasks.loyalty import expire_points, review_tiers
from app.tasks.members import flag_unverified_profiles
from app.tasks.messages import send_messages
from app.tasks.queue import make_queue

# Beside the care jobs' connections, one each for events, messages and an import: no job waits for the pool.
WORKER_POOL_SIZE = care.CONNECTIONS + 3


async def startup(ctx: dict[str, Any]) -> None:
    """Open the PostgreSQL pool when not on SQLite."""
    if not get_settings().is_sqlite:
        await engine().start_connection_pool(min_size=1, max_size=WORKER_POOL_SIZE)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close pools."""
    if not get_settings().is_sqlite:
        await engine().close_connection_pool()
    await close_redis()


FUNCTIONS = [
    purge_sessions,
    flag_unverified_profiles,
    import_members,
    expire_points,
    review_tiers,
    sweep_triggers,
    run_steps,
    dispatch_events,
    send_messages,
]
# Every job is idempotent, so a job swept from a dead worker (or raced by a starting worker's sweep) is retried.
JOB_RETRIES = 3
# Each job's timeout in seconds (SAQ's default, 10 s, would cancel a chain-sized sweep half way). The looping jobs
# stop taking new batches well before theirs (`RUN_BUDGET_S`, `SEND_BUDGET_S`), so a timeout means a stuck job.
TIMEOUTS = {
    "purge_sessions": 300,
    "flag_unverified_profiles": 1800,
    "expire_points": 1800,
    "review_tiers": 1800,
    "sweep_triggers": 1800,
    "run_steps": 600,
    "dispatch_events": 300,
    "send_messages": 300,
}
CRON_JOBS = [
    CronJob(purge_sessions, cron="*/10 * * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["purge_sessions"]),
    CronJob(
        flag_unverified_profiles, cron="15 3 * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["flag_unverified_profiles"]
    ),
    # Cron times are UTC: 16:20 / 16:40 UTC is just after midnight in the store zone (Asia/Shanghai), so the
    # expiry sees the new store day. The review runs daily and acts only once the configured review date passed.
    CronJob(expire_points, cron="20 16 * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["expire_points"]),
    CronJob(review_tiers, cron="40 16 * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["review_tiers"]),
    # Care: the sweep just after local midnight and then hourly (a missed or crashed run is resumed by the next,
    # from its cursor); the step runner every 5 minutes. Both read what is due from the database, so a job Redis
    # lost is simply the next run's work: the schedule is the reconciler.
    CronJob(sweep_triggers, cron="5 * * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["sweep_triggers"]),
    CronJob(run_steps, cron="*/5 * * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["run_steps"]),
    # Domain events (a sale, a registration …) reach their handlers within a minute; each handler once.
    CronJob(dispatch_events, cron="* * * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["dispatch_events"]),
    # Every minute: the outbox is the truth, so a run lost with Redis is made up by the next one.
    CronJob(send_messages, cron="* * * * *", retries=JOB_RETRIES, timeout=TIMEOUTS["send_messages"]),
]


def worker_settings() -> dict[str, Any]:
    """Keyword arguments for `saq.Worker`."""
    return {
        "queue": make_queue(),
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS if get_settings().worker_cron else [],
        "concurrency": 10,
        "startup": startup,
        "shutdown": shutdown,
    }
