"""Enrolling members: the daily sweep of date-driven triggers in chunks of member ids (resumable), and the
event handler's enrolment of one member as a sale, a registration, a condition or a reading happens."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from app.components.care import queries, triggers
from app.components.care.definitions import EVENT_TRIGGERS, SWEPT_TRIGGERS, Definition
from app.components.care.journeys import definition_of
from app.db import transaction
from app.settings import get_settings

# Members per chunk of a sweep: one INSERT … SELECT each, its own transaction, then the cursor moves on.
CHUNK_IDS = 50_000
# Journeys swept at once on PostgreSQL: each is its own cursor and rows of its own key, so two never touch the same
# row, and the database works on two chunks at once (the worker's pool has room for them beside the steps).
SWEEP_CONCURRENCY = 2


async def sweep(today: date, zone: str, now: datetime, chunk: int = CHUNK_IDS) -> int:
    """Run every switched-on swept trigger for `today`; resumes where a crashed run stopped. How many enrolled."""
    top = await queries.max_member_id()
    gate = asyncio.Semaphore(1 if get_settings().is_sqlite else SWEEP_CONCURRENCY)

    async def one(journey: dict) -> int:
        async with gate:
            return await _sweep_journey(journey, today, zone, now, chunk, top)

    # A task group: when one journey fails, the others stop (their open chunk rolls back) before the job fails, so
    # no sweep of this run is still writing when the job is retried.
    async with asyncio.TaskGroup() as group:
        runs = [group.create_task(one(j)) for j in await queries.active_journeys(SWEPT_TRIGGERS)]
    return sum(run.result() for run in runs)


async def _sweep_journey(journey: dict, today: date, zone: str, now: datetime, chunk: int, top: int) -> int:
    """One journey's sweep for `today`, chunk by chunk from its saved cursor; how many it enrolled."""
    d = definition_of(journey)
    window = triggers.Window.on(today, zone)
    name = f"{journey['code']}:v{journey['version']}:{today.isoformat()}"
    enrolled = 0
    last, done = await queries.cursor(name)
    while not done:
        hi = min(last + chunk, top)
        async with transaction():
            candidates = triggers.swept(d, window, last, hi)
            if candidates is not None:
                enrolled += await queries.enrol(journey, candidates, now)
            done = hi >= top or candidates is None
            await queries.move_cursor(name, hi, done, now)
        last = hi
    return enrolled


async def enrol_from_event(kind: str, member_id: int, payload: dict, today: date, zone: str, now: datetime) -> int:
    """Enrol one member in every switched-on journey whose trigger this event is (in the caller's transaction)."""
    enrolled = 0
    window = triggers.Window.on(today, zone)
    for journey in await queries.active_journeys(EVENT_TRIGGERS):
        candidates = triggers.for_event(definition_of(journey), journey["code"], kind, member_id, payload, window)
        if candidates is not None:
            enrolled += await queries.enrol(journey, candidates, now)
    return enrolled


async def audience(d: Definition, code: str, today: date, zone: str) -> int | None:
    """The builder's live count: members the trigger would have enrolled in the last 30 days (a calendar date's
    audience as it is now); None when the definition is not complete enough to count."""
    try:
        candidates = triggers.preview(d, code, today, zone)
    except (KeyError, ValueError):
        return None
    return None if candidates is None else await queries.count(candidates)
