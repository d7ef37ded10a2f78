"""The import job through the real SAQ worker and Redis: enqueued under its key, run, retried safely."""

from __future__ import annotations

from collections.abc import AsyncIterator

from saq import Worker

from app.components.imports import jobs
from app.components.imports import member_import as imports
from app.db import fetch
from app.tasks import imports as import_tasks
from app.tasks import worker as tasks
from tests.conftest import actor

FILE = (
    "姓名,手机号,出生日期,过敏类别,健康数据授权\n"
    "唐一,13700000001,1980-01-01,penicillins,是\n"
    "唐二,13700000002,1981-02-30,,\n"
    "\n"
    "唐三,13700000003,,,\n"
    "唐一,13700000001,1980-01-01,penicillins,是\n"
)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _burst() -> None:
    settings = tasks.worker_settings()
    worker = Worker(**{**settings, "cron_jobs": [], "burst": True, "dequeue_timeout": 1})
    await worker.start()


async def test_the_worker_runs_an_enqueued_import() -> None:
    submitted = await imports.submit(await actor(), "worker.csv", _chunks(FILE.encode()))
    key = submitted.job.key
    await import_tasks.enqueue_import(key, "en")
    await import_tasks.enqueue_import(key, "en")  # a second submit of the same job queues nothing more
    queue = tasks.make_queue()
    try:
        job = await queue.job(key)
        assert job is not None and job.function == "import_members"
        await _burst()
        await job.refresh()
        assert job.status == "complete", job.error
        assert job.result["accepted"] == 2 and job.result["rejected"] == 1 and job.result["unchanged"] == 1
    finally:
        await queue.disconnect()
    view = await jobs.get_job(key, await actor())
    assert (view.status, view.processed, view.accepted, view.unchanged, view.rejected) == ("done", 4, 2, 1, 1)
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 2
    assert not (jobs.job_dir(key) / "source.csv").exists(), "the uploaded personal data is deleted when done"
    events = await fetch("SELECT detail FROM audit_event WHERE action = {}", imports.IMPORT_AUDIT)
    assert len(events) == 1 and "accepted=2" in events[0]["detail"]


async def test_a_retried_job_resumes_where_the_dead_worker_stopped(monkeypatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 2)
    submitted = await imports.submit(await actor(), "retry.csv", _chunks(FILE.encode()))
    key = submitted.job.key
    # The first worker commits one chunk and dies (the job stays "running", as after a kill -9).
    await imports.run_import(key, max_chunks=1)
    assert (await jobs.get_job(key, await actor())).processed == 2
    # SAQ sweeps the job and retries it on another worker: the retry resumes after the committed chunk.
    await import_tasks.enqueue_import(key, "zh_CN")
    await _burst()
    view = await jobs.get_job(key, await actor())
    assert (view.status, view.accepted, view.unchanged, view.rejected) == ("done", 2, 1, 1)
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 2
    assert (await fetch("SELECT COUNT(*) AS n FROM allergy"))[0]["n"] == 1


async def test_a_job_whose_file_is_gone_fails_with_a_reason() -> None:
    submitted = await imports.submit(await actor(), "gone.csv", _chunks(FILE.encode()))
    (jobs.job_dir(submitted.job.key) / "source.csv").unlink()
    await import_tasks.enqueue_import(submitted.job.key, "en")
    await _burst()
    view = await jobs.get_job(submitted.job.key, await actor())
    assert view.status == "failed" and view.error == "missing_file"


def test_the_worker_knows_the_import_function() -> None:
    assert import_tasks.import_members in tasks.FUNCTIONS
