"""The member import job, and how the web (and the API) enqueue it."""

from __future__ import annotations

import logging
from typing import Any

from app.components import imports
from app.tasks.queue import make_queue

log = logging.getLogger("yaoshi.imports")
FUNCTION = "import_members"
# A long import touches its job after every chunk; a worker silent for this long is presumed dead and the job
# is swept and retried, resuming after the last committed chunk.
HEARTBEAT_SECONDS = 120
RETRIES = 3


async def import_members(ctx: dict[str, Any], *, job_key: str, language: str = "") -> dict:
    """Run (or resume) one import job to its end; returns its counts."""
    job = ctx.get("job")

    async def heartbeat(processed: int, total: int) -> None:
        if job is not None:
            await job.update(progress=min(1.0, processed / total) if total else 0.0)

    try:
        view = await imports.run_import(job_key, language=language or None, on_progress=heartbeat)
    except Exception:
        if job is None or job.attempts >= job.retries:
            log.exception("import %s failed for good", job_key)
            await imports.mark_failed(job_key, "internal")
        raise
    return view.as_json()


async def enqueue_import(job_key: str, language: str) -> None:
    """Queue the job under its own key: enqueueing a job that is already queued or running does nothing."""
    queue = make_queue()
    try:
        await queue.enqueue(
            FUNCTION,
            key=job_key,
            job_key=job_key,
            language=language,
            timeout=0,
            heartbeat=HEARTBEAT_SECONDS,
            retries=RETRIES,
        )
    finally:
        await queue.disconnect()
