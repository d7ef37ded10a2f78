"""Bulk import of existing customers from .csv/.xlsx: the upload becomes a job; the worker runs it in chunks.

A job is a row in `import_job` plus a folder (see `jobs`). The worker reads the file row by row (`reading`),
validates each row with the registration rules (`rows`), matches it against existing members and writes a whole
chunk in one transaction together with the job's progress (`matching`, `writing`). A retried job resumes after
the last committed chunk; a re-run of the same file matches every row and changes nothing, so nothing is ever
doubled; the same file sent again while its job is queued or running is that job.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.imports import queries
from app.components.imports.jobs import (
    ImportJobView,
    JobContext,
    error_label,
    get_job,
    imports_dir,
    job_context,
    job_dir,
    mark_failed,
    public_view,
    purge_old_files,
    source_path,
    target_store,
)
from app.components.imports.reading import (
    Batch,
    count_rows,
    data_rows,
    read_header,
    save_upload,
    upload_name,
)
from app.components.imports.rejects import Reject, drop_rejects_from
from app.components.imports.rows import COLUMNS, Row, map_header, validate_row
from app.components.imports.writing import commit_chunk
from app.db import advisory_lock, transaction
from app.i18n import current_language, use_language
from app.settings import get_settings

CHUNK = 2000
IMPORT_AUDIT = "member.import"


@dataclass
class Submitted:
    """The outcome of an upload: the job, and whether it is a job that was already running for this file."""

    job: ImportJobView
    existing: bool


async def submit(actor: StaffUser, filename: str, chunks: AsyncIterator[bytes], store_code: str = "") -> Submitted:
    """Store an uploaded file and create its job (status queued); the caller enqueues it.

    The same file sent again by the same person for the same store while its job is queued or running gives
    that job back instead of a second one.
    """
    filename = upload_name(filename)
    store_id = await target_store(actor, store_code)
    tmp = imports_dir() / f"upload-{uuid.uuid4().hex}.part"
    try:
        sha = await save_upload(chunks, tmp)
        checked = tmp.with_suffix(".xlsx" if filename.lower().endswith(".xlsx") else ".csv")
        tmp.rename(checked)
        tmp = checked
        try:
            header = await asyncio.to_thread(read_header, tmp)  # a workbook takes a moment to open
        except ValueError:
            raise ValidationFailed({"file": error_label("unreadable")}) from None
        if "name" not in map_header(header, COLUMNS):
            raise ValidationFailed({"file": error_label("no_name_column")})
        async with transaction():
            # Two submits of one file at the same moment: the second waits and finds the first.
            await advisory_lock(f"import:{actor.id}:{sha}")
            found = await queries.active_job_key(actor.id, store_id, sha)
            if found:
                key, existing = found, True
            else:
                key, existing = uuid.uuid4().hex, False
                folder = job_dir(key)
                folder.mkdir(parents=True)
                (folder / "header.json").write_text(json.dumps(header, ensure_ascii=False), encoding="utf-8")
                tmp.rename(source_path(key, filename))
                await queries.insert_job(key, "members", store_id, actor.id, filename, sha, "queued", datetime.now(UTC))
    finally:
        if tmp.exists():
            tmp.unlink()
    return Submitted(job=await get_job(key, actor), existing=existing)


async def run_import(
    job_key: str, language: str | None = None, max_chunks: int | None = None, on_progress: Any = None
) -> ImportJobView:
    """Run (or resume) a job to its end; safe to call again at any time, it never doubles anything.

    `max_chunks` stops after that many chunks, as a worker dying between two chunks would (tests);
    `on_progress` is awaited after each committed chunk (the worker's heartbeat).
    """
    with use_language(language or get_settings().default_language):
        job, row = await job_context(job_key)
        if row["status"] in ("done", "failed"):
            return await public_view(job_key)
        source = source_path(job_key, row["filename"])
        if not source.exists():
            await mark_failed(job_key, "missing_file")
            return await public_view(job_key)
        try:
            purge_old_files()
        except OSError:
            pass
        await queries.start(job.id)
        header = json.loads((job_dir(job_key) / "header.json").read_text(encoding="utf-8"))
        keys = map_header(header, COLUMNS)
        if "name" not in keys:
            await mark_failed(job_key, "no_name_column")
            return await public_view(job_key)
        processed = row["processed"]
        drop_rejects_from(job_key, processed)
        try:
            if not row["total"]:
                await queries.set_total(job.id, count_rows(source))
            done = await _run_chunks(job, source, header, keys, processed, max_chunks, on_progress)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            if isinstance(exc, FileNotFoundError):
                await mark_failed(job_key, "missing_file")
            else:
                await mark_failed(job_key, "unreadable")
            return await public_view(job_key)
        if done:
            await _finish(job)
        return await public_view(job_key)


def validate_batch(language: str, positions: list[tuple[int, str]], batch: Batch) -> tuple[list[Row], list[Reject]]:
    """Validate rows (row number, cells) in `language`: the clean rows and the rejects."""
    valid: list[Row] = []
    rejects: list[Reject] = []
    with use_language(language):
        for row_no, cells in batch:
            errors, clean = validate_row(row_no, {k: cells[i] for i, k in positions})
            if clean is None:
                rejects.append(Reject(row_no, cells, "invalid", sorted(errors)))
            else:
                valid.append(clean)
    return valid, rejects


async def _run_chunks(
    job: JobContext,
    source: Path,
    header: list[str],
    keys: list[str | None],
    processed: int,
    max_chunks: int | None,
    on_progress: Any,
) -> bool:
    """Validate and apply the rows after `processed`; True when the file was read to its end."""
    positions = [(i, k) for i, k in enumerate(keys) if k]
    total = await queries.total(job.id)
    rows = data_rows(source, len(header))
    for _done_before in itertools.islice(rows, processed):  # resume after the last committed chunk
        pass

    start = processed
    chunks = 0
    language = current_language.get()
    try:
        while batch := list(itertools.islice(rows, CHUNK)):
            valid, rejects = validate_batch(language, positions, batch)
            end = start + len(batch)
            if not await commit_chunk(job, start, end, batch, valid, rejects):
                return False
            start = end
            chunks += 1
            if on_progress is not None:
                await on_progress(end, total)
            if max_chunks is not None and chunks >= max_chunks:
                # Stop as a dying worker would; the file counts as read when nothing follows.
                return next(rows, None) is None
    finally:
        rows.close()
    return True


async def _finish(job: JobContext) -> None:
    r = await queries.finish(job.id, datetime.now(UTC))
    if r is not None:
        await audit.record(
            job.actor,
            IMPORT_AUDIT,
            detail=f"job={job.key} rows={r['processed']} accepted={r['accepted']} updated={r['updated']}"
            f" unchanged={r['unchanged']} rejected={r['rejected']}",
        )
    source = source_path(job.key, job.filename)
    source.unlink(missing_ok=True)
