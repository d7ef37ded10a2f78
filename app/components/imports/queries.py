"""The SQL of `import_job`: the only module that reads or writes that table.

Job views join the store's code and name and the staff member's display name (display only), and a job's actor
is read with its staff row; the store lookups serve the upload form and the choice of the members' home store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db import fetch, for_update

# The columns of a job view: the job, its store's code and name, and the name of who uploaded it.
_JOB_SQL = (
    "SELECT j.id, j.job_key, j.status, j.filename, j.file_sha256, j.total, j.processed, j.accepted, j.updated,"
    " j.unchanged, j.rejected, j.error, j.created_at, j.finished_at, j.store AS store_id, j.staff AS staff_id,"
    " st.code AS store_code, st.name AS store_name, s.display_name AS staff_name"
    " FROM import_job j LEFT JOIN store st ON st.id = j.store LEFT JOIN staff s ON s.id = j.staff"
)


async def job_row(job_key: str, kind: str | None = None) -> dict[str, Any] | None:
    """A job (of `kind`, or of any kind) by its key, with its store and staff names; None when there is none."""
    if kind is None:
        rows = await fetch(_JOB_SQL + " WHERE j.job_key = {}", job_key)
    else:
        rows = await fetch(_JOB_SQL + " WHERE j.job_key = {} AND j.kind = {}", job_key, kind)
    return rows[0] if rows else None


async def latest_rows(kind: str, limit: int, store_id: int | None = None) -> list[dict[str, Any]]:
    """The latest jobs of a kind (of one store's, when given), newest first."""
    if store_id is None:
        return await fetch(_JOB_SQL + " WHERE j.kind = {} ORDER BY j.id DESC LIMIT {}", kind, int(limit))
    return await fetch(
        _JOB_SQL + " WHERE j.store = {} AND j.kind = {} ORDER BY j.id DESC LIMIT {}", store_id, kind, int(limit)
    )


async def active_job_key(staff_id: int, store_id: int | None, sha: str) -> str | None:
    """The key of a queued or running job of the same file by the same person for the same store."""
    rows = await fetch(
        "SELECT job_key FROM import_job WHERE staff = {} AND store = {} AND file_sha256 = {}"
        " AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
        staff_id,
        store_id,
        sha,
    )
    return rows[0]["job_key"] if rows else None


async def insert_job(
    job_key: str, kind: str, store_id: int | None, staff_id: int, filename: str, sha: str, status: str, at: datetime
) -> None:
    """A new job row."""
    await fetch(
        "INSERT INTO import_job (job_key, kind, store, staff, filename, file_sha256, status, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        job_key,
        kind,
        store_id,
        staff_id,
        filename,
        sha,
        status,
        at,
    )


async def mark_failed(job_key: str, code: str, at: datetime) -> None:
    """End a queued or running job with an error code."""
    await fetch(
        "UPDATE import_job SET status = 'failed', error = {}, finished_at = {} WHERE job_key = {}"
        " AND status IN ('queued', 'running')",
        code,
        at,
        job_key,
    )


async def job_with_staff(job_key: str) -> dict[str, Any] | None:
    """A job row with the uploader's staff row and home store (to act as them in the worker)."""
    rows = await fetch(
        "SELECT j.*, s.username, s.display_name, s.role, s.store AS staff_store, st.code AS store_code,"
        " st.name AS store_name FROM import_job j JOIN staff s ON s.id = j.staff"
        " LEFT JOIN store st ON st.id = s.store WHERE j.job_key = {}",
        job_key,
    )
    return rows[0] if rows else None


async def start(job_id: int) -> None:
    """A queued job is now running."""
    await fetch("UPDATE import_job SET status = 'running' WHERE id = {} AND status = 'queued'", job_id)


async def set_total(job_id: int, total: int) -> None:
    """How many rows the file has (an estimate for a workbook)."""
    await fetch("UPDATE import_job SET total = {} WHERE id = {}", total, job_id)


async def total(job_id: int) -> int:
    """The job's row count as recorded."""
    return (await fetch("SELECT total FROM import_job WHERE id = {}", job_id))[0]["total"]


async def lock_processed(job_id: int) -> int:
    """The rows committed so far, the job's row locked until the transaction ends (one chunk writer at a time)."""
    return (await fetch("SELECT processed FROM import_job WHERE id = {}" + for_update(), job_id))[0]["processed"]


async def add_progress(job_id: int, processed: int, accepted: int, updated: int, unchanged: int, rejected: int) -> None:
    """Record a committed chunk: rows read so far, and what the chunk did added to the counts."""
    await fetch(
        "UPDATE import_job SET processed = {}, accepted = accepted + {}, updated = updated + {},"
        " unchanged = unchanged + {}, rejected = rejected + {}, status = 'running' WHERE id = {}",
        processed,
        accepted,
        updated,
        unchanged,
        rejected,
        job_id,
    )


async def finish(job_id: int, at: datetime) -> dict[str, Any] | None:
    """A running job is done; its final counts (None when it was not running)."""
    rows = await fetch(
        "UPDATE import_job SET status = 'done', total = processed, finished_at = {} WHERE id = {}"
        " AND status = 'running' RETURNING processed, accepted, updated, unchanged, rejected",
        at,
        job_id,
    )
    return rows[0] if rows else None


async def set_counts(job_key: str, processed: int, accepted: int, updated: int, unchanged: int, rejected: int) -> None:
    """A job's counts as they stand (a catalog import, which counts in memory)."""
    await fetch(
        "UPDATE import_job SET processed = {}, total = {}, accepted = {}, updated = {}, unchanged = {},"
        " rejected = {} WHERE job_key = {}",
        processed,
        processed,
        accepted,
        updated,
        unchanged,
        rejected,
        job_key,
    )


async def set_done(job_key: str, at: datetime) -> None:
    """A job is done."""
    await fetch("UPDATE import_job SET status = 'done', finished_at = {} WHERE job_key = {}", at, job_key)


async def active_stores() -> list[dict[str, Any]]:
    """Active stores (id, code, name), by code."""
    return await fetch("SELECT id, code, name FROM store WHERE active = {} ORDER BY code", True)


async def store_id(code: str) -> int | None:
    """The id of the store with this code."""
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    return rows[0]["id"] if rows else None
