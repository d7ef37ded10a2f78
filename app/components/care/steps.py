"""The step runner: every due step of every active enrolment, each in its own short transaction, exactly once.

A step is claimed by inserting its run row (unique key "enrolment:step") in the same transaction as its effect and
the enrolment's move to the next step: a crash anywhere rolls all three back, and a second runner finds the key
taken. Steps are due by the day and time of day in the member's store's zone."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.components import care_tasks
from app.components.care import effects, queries, triggers
from app.components.care.definitions import TASK_KINDS, Step, steps_from_json
from app.components.care.journeys import definition_of
from app.components.core.errors import ValidationFailed
from app.db import as_date, as_datetime, transaction
from app.settings import get_settings

log = logging.getLogger(__name__)
BATCH = 200
# One run stops taking new batches after this long (the job's timeout is longer; the next run, 5 minutes on, goes on).
RUN_BUDGET_S = 240.0
# Steps in flight at once on PostgreSQL (each holds one of the worker's pool connections while it runs).
STEP_CONCURRENCY = 4
# Consents a journey's purpose needs; a member who withdrew it leaves the journey at the next step.
_NEEDS = {"care": ("consent_health",), "marketing": ("consent_marketing_sms", "consent_marketing_wechat")}


@dataclass
class RunResult:
    """What one pass of the runner did."""

    done: int = 0
    skipped: int = 0
    held_out: int = 0
    exited: int = 0
    failed: int = 0  # a step that cannot be done: recorded, and the enrolment leaves the journey
    errors: int = 0  # anything else (the database …): rolled back, tried again on the next pass

    def add(self, other: RunResult) -> None:
        self.done += other.done
        self.skipped += other.skipped
        self.held_out += other.held_out
        self.exited += other.exited
        self.failed += other.failed
        self.errors += other.errors


def local_now(zone: str, now: datetime) -> tuple[date, str]:
    """The day and HH:MM in `zone` at the instant `now`."""
    local = now.astimezone(ZoneInfo(zone))
    return local.date(), local.strftime("%H:%M")


def _exit_reason(journey: dict[str, Any], row: dict[str, Any]) -> str:
    if row["merged_into"] is not None:
        return "merged"
    if not journey["active"]:
        return "journey_off"
    needs = _NEEDS.get(journey["purpose"], ())
    if needs and not any(row[c] for c in needs):
        return "opted_out"
    return ""


async def repurchased(journey: dict[str, Any], enrolment: dict[str, Any]) -> bool:
    """Whether the member bought again since enrolling: the same therapy group for a refill reminder, a matching
    product for a purchase journey, anything for the others."""
    member_id = enrolment["member"]
    if journey["trigger"] == "refill_due":
        anchor = as_date(enrolment["anchor_on"])
        assert anchor is not None
        return await queries.refilled_since(member_id, str(enrolment["ref"]).split(":")[0], anchor)
    since = as_datetime(enrolment["enrolled_at"])
    assert since is not None
    if journey["trigger"] == "purchase":
        match, args = triggers.product_match(definition_of(journey))
        return await queries.bought_matching_since(member_id, since, triggers.Candidates(match, args))
    return await queries.bought_since(member_id, since)


async def _skip_reason(step: Step, journey: dict[str, Any], enrolment: dict[str, Any]) -> str:
    if "repurchased" in step.skip_if and await repurchased(journey, enrolment):
        return "repurchased"
    if "task_open" in step.skip_if and step.task_kind in TASK_KINDS:
        if await care_tasks.open_task_exists(enrolment["member"], step.task_kind):
            return "task_open"
    return ""


async def run_one(enrolment: dict[str, Any], journey: dict[str, Any], now: datetime) -> RunResult:
    """Run the enrolment's due step (one transaction); nothing when another runner already did."""
    result = RunResult()
    n = int(enrolment["next_step"])
    steps = steps_from_json(journey["steps"])
    key = f"{enrolment['id']}:{n}"
    async with transaction(short=True):
        row = await queries.lock_enrolment(enrolment["id"], n)
        if row is None:
            return result
        reason = _exit_reason(journey, row)
        if reason or n >= len(steps):
            await queries.finish(enrolment["id"], "exited" if reason else "completed", reason, now)
            result.exited += bool(reason)
            return result
        step = steps[n]
        if enrolment["held_out"]:
            status, skip = "held_out", ""
        else:
            skip = await _skip_reason(step, journey, enrolment)
            status = "skipped" if skip else "done"
        claimed = await queries.claim_step(key, enrolment["id"], n, step.action, status, skip, now)
        # Not claimed: the step ran before (its row commits with the move on, so only a hand-edited enrolment gets
        # here); its effect is not made again, the enrolment just moves on.
        if claimed and status == "done":
            effect, skip = await effects.run(step, n, key, journey, enrolment, now, {})
            await queries.record_effect(key, effect, "skipped" if skip else None, skip or None)
            status = "skipped" if skip else "done"
        if claimed:
            setattr(result, status, 1)
        if n + 1 < len(steps):
            anchor = as_date(enrolment["anchor_on"])
            assert anchor is not None
            nxt = steps[n + 1]
            await queries.advance(enrolment["id"], n + 1, anchor + timedelta(days=nxt.after_days), nxt.at)
        else:
            await queries.finish(enrolment["id"], "completed", "", now)
    return result


async def fail_step(enrolment: dict[str, Any], journey: dict[str, Any], now: datetime, reason: str) -> bool:
    """Record the enrolment's due step as failed and let the enrolment go (one transaction); False when another
    runner moved it on meanwhile."""
    n = int(enrolment["next_step"])
    steps = steps_from_json(journey["steps"])
    action = steps[n].action if n < len(steps) else ""
    async with transaction(short=True):
        if await queries.lock_enrolment(enrolment["id"], n) is None:
            return False
        await queries.claim_step(f"{enrolment['id']}:{n}", enrolment["id"], n, action, "failed", reason[:30], now)
        await queries.finish(enrolment["id"], "exited", "step_failed", now)
    return True


async def run_guarded(enrolment: dict[str, Any], journey: dict[str, Any], now: datetime) -> RunResult:
    """`run_one`, without one enrolment stopping the rest: a step the receiving domain refuses (its rules, not a
    crash) can never succeed, so it is recorded as failed; any other error leaves the step due for the next pass."""
    try:
        return await run_one(enrolment, journey, now)
    except ValidationFailed as refused:
        log.warning(
            "journey %s enrolment %s step %s refused: %s",
            journey["code"],
            enrolment["id"],
            enrolment["next_step"],
            refused,
        )
        failed = await fail_step(enrolment, journey, now, "refused:" + ",".join(refused.errors))
        return RunResult(failed=int(failed))
    except Exception:
        log.exception("journey %s enrolment %s step %s", journey["code"], enrolment["id"], enrolment["next_step"])
        return RunResult(errors=1)


async def _run_batch(due: list[dict], journeys: dict[int, dict[str, Any]], now: datetime) -> list[RunResult]:
    """The batch's steps, a few at once on PostgreSQL (each waits mostly on its own commit; the lock and the unique
    step key keep them apart), one after another on SQLite (one writer: running them at once would only queue)."""
    gate = asyncio.Semaphore(1 if get_settings().is_sqlite else STEP_CONCURRENCY)

    async def one(enrolment: dict) -> RunResult:
        async with gate:
            return await run_guarded(enrolment, journeys[enrolment["journey"]], now)

    return await asyncio.gather(*(one(e) for e in due))


async def run_due(now: datetime, batch: int = BATCH, budget_s: float = RUN_BUDGET_S) -> RunResult:
    """Run every step due at `now`, `batch` enrolments per query, a batch of each store zone in turn (so a zone's
    backlog delays no other), until none is left or `budget_s` seconds have passed (the next run goes on)."""
    total = RunResult()
    deadline = time.monotonic() + budget_s
    chain_zone = get_settings().timezone
    zones = await queries.store_zones()
    if chain_zone not in zones:
        zones.append(chain_zone)
    after = dict.fromkeys(zones, 0)  # each zone's position: a failed or skipped enrolment is not fetched again
    while after and time.monotonic() < deadline:
        for zone in list(after):
            today, hhmm = local_now(zone, now)
            due = await queries.due_enrolments(zone, chain_zone, today, hhmm, after[zone], batch)
            if not due:
                del after[zone]
                continue
            journeys = await queries.journeys_by_id({r["journey"] for r in due})
            for result in await _run_batch(due, journeys, now):
                total.add(result)
            after[zone] = due[-1]["id"]
    return total
