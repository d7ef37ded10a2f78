"""`make bench-care`: evaluate every built-in journey trigger over a chain through the real SAQ worker.

A scratch instance (as `make bench-import`: SQLite + embedded Redis by default, a scratch PostgreSQL database when
DATABASE_URL names a server) is seeded with BENCH_MEMBERS members (1,000,000 on PostgreSQL, 100,000 on SQLite
unless set), BENCH_LINES sale lines of synthetic history (10 per member), medication rows with days of supply, and
the chronic-condition tags those medicines imply; then the statistics and visibility map a live database's
autovacuum keeps (VACUUM ANALYZE; ANALYZE on SQLite). The built-in journeys are switched on. One worker process
(queued jobs only, no schedule of its own) runs, each with its cron timeout:

- `sweep_triggers` for 1 November with nothing enrolled yet: the catch-up day (the flu-season journey fires for
  every chronic patient, every profile unconfirmed for a year is asked, every churn and refill-due member found);
- VACUUM ANALYZE, as autovacuum does in the day between (the catch-up wrote a million enrolments);
- `sweep_triggers` for 2 November: a day like any other (every trigger evaluated over every member again, the few
  new enrolments made, the rest found enrolled already);
- 2 November again: the day's sweep is finished, so it does nothing;
- `run_steps` once over what the sweeps made due (it stops taking batches after its budget, as in production);
- the journey builder's live audience count of every switched-on journey (the event triggers — purchase, new
  member, condition, reading — are evaluated set-based over the last 30 days there, as they are per event in
  production), timed in the bench process as the web process computes it.

Reported: seconds per job, enrolments, the worker's peak RSS (VmHWM, reset before each job), and a no-op job
through the same queue for scale.

Targets (issue 14): the sweep ≤ 60 s on PostgreSQL at 1,000,000 members / 10,000,000 lines, worker peak ≤ 300 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_bench import Scratch, _proc_kb, _reset_peak, _with_engine, noop_job  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0
FIRST_DAY = "2026-11-01"
NEXT_DAY = "2026-11-02"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


async def setup(members: int, lines: int) -> dict:
    """Schema, stores and staff, members, sales history, condition tags, the built-in journeys switched on."""
    from app.components import care, catalog, coupons
    from app.components.seed import add_staff, ensure_store, seed_chain, seed_sales_history
    from app.db import fetch
    from app.tables.migrate import migrate

    timings = {}
    started = time.perf_counter()
    await migrate()
    await ensure_store("SH001", "上海南京西路店")
    await add_staff("bench", "基准药师", "pharmacist", "SH001", "bench-only-password")
    await seed_chain(members=members, stores=9, seed=11)
    await catalog.seed_demo_catalog()
    timings["members_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    await seed_sales_history(lines, seed=5)
    timings["sales_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    # Condition tags as the sale's inference would have made them (one per member and condition).
    await fetch(
        "INSERT INTO member_condition (member, code, source, status, evidence)"
        " SELECT DISTINCT md.member, CASE WHEN md.atc LIKE 'A10%' THEN 'diabetes' WHEN md.atc LIKE 'C10%'"
        " THEN 'dyslipidemia' ELSE 'hypertension' END, 'inferred', 'active', '' FROM medication md"
        " WHERE md.atc LIKE 'A10%' OR md.atc LIKE 'C10%' OR md.atc LIKE 'C08%' OR md.atc LIKE 'C09%'"
    )
    await fetch("UPDATE member SET consent_health = true WHERE id % 10 <> 0")  # most members agreed
    await fetch("UPDATE member SET consent_marketing_sms = true WHERE id % 3 = 0")  # birthday and New Year
    await coupons.seed_demo_coupons()
    await care.seed_builtin_journeys(active=True)
    timings["tags_s"] = round(time.perf_counter() - started, 1)
    timings["analyze_s"] = await vacuum()
    counts = {}
    for table in ("member", "sale_line", "medication", "member_condition"):
        counts[table] = (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
    return {"timings": timings, "counts": counts}


async def vacuum() -> float:
    """The statistics and visibility map autovacuum keeps on a live database (ANALYZE on SQLite); seconds."""
    from app.db import fetch, is_sqlite

    started = time.perf_counter()
    await fetch("ANALYZE" if is_sqlite() else "VACUUM ANALYZE")
    return round(time.perf_counter() - started, 1)


async def run_job(name: str, worker_pid: int, **kwargs: object) -> dict:
    """Enqueue one job and wait for it; seconds, its result and the worker's peak RSS during it."""
    from app.tasks.queue import make_queue
    from app.tasks.worker import TIMEOUTS

    queue = make_queue()
    try:
        reset = _reset_peak(worker_pid)
        started = time.perf_counter()
        # The cron job's own timeout: a job that would be cancelled in production fails here too.
        job = await queue.enqueue(name, timeout=TIMEOUTS[name], **kwargs)
        assert job is not None
        await job.refresh(until_complete=3600)
        seconds = time.perf_counter() - started
        return {
            "job": name,
            "seconds": round(seconds, 2),
            "status": job.status,
            "result": job.result,
            "error": job.error,
            "peak_rss_mb": round(_proc_kb(worker_pid, "VmHWM") / 1024, 1) if reset else None,
        }
    finally:
        await queue.disconnect()


async def live_counts(day: str) -> list[dict]:
    """The builder's live audience count for every switched-on journey, as a manager's phone waits for it (in this
    process, as the web process computes it): seconds and members counted."""
    from app.components import care
    from app.components.care.definitions import EVENT_TRIGGERS, SWEPT_TRIGGERS
    from app.components.care.journeys import definition_of
    from app.components.care.queries import active_journeys
    from app.settings import get_settings

    rows = []
    for journey in await active_journeys(EVENT_TRIGGERS | SWEPT_TRIGGERS):
        started = time.perf_counter()
        count = await care.audience(
            definition_of(journey), journey["code"], datetime.fromisoformat(day).date(), get_settings().timezone
        )
        rows.append(
            {
                "journey": journey["code"],
                "trigger": journey["trigger"],
                "members": count,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    return rows


async def enrolment_count() -> int:
    from app.db import fetch

    return (await fetch("SELECT COUNT(*) AS n FROM journey_enrolment"))[0]["n"]


def main() -> int:
    scratch = Scratch()
    default_members = 1_000_000 if scratch.tier == "postgresql" else 100_000
    members = _env_int("BENCH_MEMBERS", default_members)
    lines = _env_int("BENCH_LINES", members * 10)
    worker = None
    try:
        print(f"bench: scratch data in {scratch.dir} ({scratch.tier}, redis {scratch.redis})")
        print(f"bench: seeding {members:,} members and {lines:,} sale lines …")
        seeded = asyncio.run(_with_engine(lambda: setup(members, lines)))
        print(f"bench: seeded {seeded}")
        env = {**os.environ, "YAOSHI_WORKER_CRON": "0"}  # no scheduled job runs beside the measured ones
        worker = subprocess.Popen([sys.executable, "-m", "app.tasks.run_worker"], cwd=ROOT, env=env)
        asyncio.run(_with_engine(noop_job))  # waits for the worker to be up
        noop_s = asyncio.run(_with_engine(noop_job))
        runs = []
        for label, day in (("catch-up day", FIRST_DAY), ("next day", NEXT_DAY), ("next day again", NEXT_DAY)):
            result = asyncio.run(_with_engine(lambda day=day: run_job("sweep_triggers", worker.pid, day=day)))
            result["label"] = label
            result["enrolments_total"] = asyncio.run(_with_engine(enrolment_count))
            runs.append(result)
            print(f"bench: {label}: {result}")
            if label == "catch-up day":
                # A day passes before the next sweep: autovacuum has seen the million new enrolments by then.
                result["vacuum_after_s"] = asyncio.run(_with_engine(vacuum))
        steps = asyncio.run(_with_engine(lambda: run_job("run_steps", worker.pid)))
        steps["label"] = "steps"
        runs.append(steps)
        print(f"bench: steps: {steps}")
        counts = asyncio.run(_with_engine(lambda: live_counts(NEXT_DAY)))
        for row in counts:
            print(f"bench: live count {row}")
        doc = {
            "bench": "care",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tier": scratch.tier,
            "redis": scratch.redis,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "members": members,
            "sale_lines": lines,
            "seeded": seeded,
            "noop_job_s": round(noop_s, 3),
            "runs": runs,
            "live_counts": counts,
            "targets": {"sweep_seconds": TARGET_SECONDS, "worker_peak_rss_mb": TARGET_RSS_MB},
            "sweep_within_target": all(r["seconds"] <= TARGET_SECONDS for r in runs[:3]),
            "memory_within_target": all((r["peak_rss_mb"] or 0) <= TARGET_RSS_MB for r in runs),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"{stamp}-care-{scratch.tier}.json"
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        print(f"bench: written {out}")
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
