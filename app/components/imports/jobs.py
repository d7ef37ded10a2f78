"""Import jobs: a row in `import_job` (kind members or catalog) plus a folder of files, and who may see which job.

A job's folder under `YAOSHI_DATA_DIR/imports/<job_key>/` holds the uploaded file (deleted when the job ends), its
header and the rejected rows; folders older than RETENTION_DAYS are deleted (they hold personal data). A store's
staff see their store's member imports; HQ sees every job.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import HQ_ROLES
from app.components.imports import queries
from app.db import as_datetime
from app.i18n import _
from app.settings import get_settings

RETENTION_DAYS = 7

# ---------------------------------------------------------------- job folders


def imports_dir() -> Path:
    """Where uploaded files and reports live."""
    path = get_settings().data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_dir(job_key: str) -> Path:
    """The folder of one job (NotFound for anything that is not a job key, so no path can be smuggled in)."""
    if not re.fullmatch(r"[0-9a-f]{32}", job_key or ""):
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    return imports_dir() / job_key


def source_path(job_key: str, filename: str) -> Path:
    """Where the uploaded file of a job is kept until the job ends."""
    ext = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    return job_dir(job_key) / f"source{ext}"


def rejects_dir(job_key: str) -> Path:
    """The folder of a job's rejected rows (one file per chunk)."""
    return job_dir(job_key) / "rejects"


def purge_old_files(days: int = RETENTION_DAYS) -> int:
    """Delete job folders (uploaded personal data and reports) older than `days`; return how many."""
    cutoff = time.time() - days * 86400
    removed = 0
    for entry in imports_dir().iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed


# ---------------------------------------------------------------- what the pages and the API show


@dataclass
class ImportJobView:
    """An import job as the pages and the API show it."""

    id: int
    key: str
    status: str
    filename: str
    store_code: str | None
    store_name: str | None
    staff: str | None
    total: int
    processed: int
    accepted: int
    updated: int
    unchanged: int
    rejected: int
    error: str
    created_at: datetime | None
    finished_at: datetime | None
    store_id: int | None = None

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        if not self.total:
            return 0
        return min(99, self.processed * 100 // self.total)

    @property
    def error_message(self) -> str:
        return error_label(self.error)

    def as_json(self) -> dict:
        """The API representation."""
        return {
            "job_id": self.key,
            "kind": "members.import",
            "status": self.status,
            "filename": self.filename,
            "store": self.store_code,
            "total": max(self.total, self.processed),
            "processed": self.processed,
            "percent": self.percent,
            "accepted": self.accepted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "error": self.error_message if self.error else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "report_url": f"/api/v1/jobs/{self.key}/rejected" if self.status == "done" and self.rejected else None,
        }


ERRORS = ("no_name_column", "unreadable", "missing_file", "internal")


def error_label(code: str) -> str:
    """Why a job failed, in the current language."""
    return {
        "no_name_column": _("The file has no name column. Download the template and keep its header row."),
        "unreadable": _("The file could not be read. Save it as .xlsx or as UTF-8 .csv and upload it again."),
        "missing_file": _("The uploaded file is gone. Upload it again."),
        "internal": _("The import stopped because of an error. Upload the file again."),
    }.get(code, code)


def job_view(row: dict) -> ImportJobView:
    """An import job row as pages show it."""
    return ImportJobView(
        id=row["id"],
        key=row["job_key"],
        status=row["status"],
        filename=row["filename"],
        store_code=row["store_code"],
        store_name=row["store_name"],
        staff=row["staff_name"],
        total=row["total"],
        processed=row["processed"],
        accepted=row["accepted"],
        updated=row["updated"],
        unchanged=row["unchanged"],
        rejected=row["rejected"],
        error=row["error"] or "",
        created_at=as_datetime(row["created_at"]),
        finished_at=as_datetime(row["finished_at"]),
        store_id=row["store_id"],
    )


def _may_see(actor: StaffUser, store_id: int | None) -> bool:
    return actor.role in HQ_ROLES or (actor.store_id is not None and actor.store_id == store_id)


async def job_of_kind(job_key: str, kind: str) -> ImportJobView | None:
    """One import job of a kind (members, catalog …) by its key, unscoped; None when there is none."""
    row = await queries.job_row(job_key, kind)
    return job_view(row) if row else None


async def jobs_of_kind(kind: str, limit: int = 10) -> list[ImportJobView]:
    """The latest import jobs of a kind, newest first, unscoped."""
    return [job_view(r) for r in await queries.latest_rows(kind, limit)]


async def get_job(job_key: str, actor: StaffUser) -> ImportJobView:
    """One member import the actor may see (their store's, or any for HQ); NotFound otherwise."""
    row = await queries.job_row(job_key, "members")
    if not row or not _may_see(actor, row["store_id"]):
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    return job_view(row)


async def recent_jobs(actor: StaffUser, limit: int = 10) -> list[ImportJobView]:
    """The latest member imports in the actor's scope, newest first (catalog imports have their own list)."""
    if actor.role in HQ_ROLES:
        rows = await queries.latest_rows("members", limit)
    else:
        rows = await queries.latest_rows("members", limit, store_id=actor.store_id)
    return [job_view(r) for r in rows]


async def public_view(job_key: str) -> ImportJobView:
    """A job of any kind by its key, unscoped (the worker's return value)."""
    row = await queries.job_row(job_key)
    assert row is not None, job_key
    return job_view(row)


async def stores() -> list[dict]:
    """Active stores (code, name) for HQ to pick from."""
    return await queries.active_stores()


async def target_store(actor: StaffUser, store_code: str) -> int:
    """The home store of the members an upload creates: the actor's own, or the one HQ names."""
    if actor.role not in HQ_ROLES:
        if actor.store_id is None:
            raise ValidationFailed({"store": _("Name the members' home store.")})
        return actor.store_id
    if not store_code:
        raise ValidationFailed({"store": _("Choose the store the members belong to.")})
    found = await queries.store_id(store_code.strip())
    if found is None:
        raise ValidationFailed({"store": _("No store with code %(code)s.") % {"code": store_code}})
    return found


async def mark_failed(job_key: str, code: str) -> None:
    """End a job with an error code (see `error_label`)."""
    await queries.mark_failed(job_key, code, datetime.now(UTC))


# ---------------------------------------------------------------- a running job


@dataclass
class Counts:
    """What a chunk (or a whole job) did."""

    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.accepted += other.accepted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected


@dataclass
class JobContext:
    """What every chunk of one job needs."""

    id: int
    key: str
    filename: str
    store_id: int
    actor: StaffUser


async def job_context(job_key: str) -> tuple[JobContext, dict]:
    """What every chunk of a job needs (its uploader as the actor, channel "import"), and the job's row."""
    row = await queries.job_with_staff(job_key)
    if row is None:
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    actor = StaffUser(
        id=row["staff"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        store_id=row["staff_store"],
        store_code=row["store_code"],
        store_name=row["store_name"],
        channel="import",
    )
    return JobContext(row["id"], job_key, row["filename"], row["store"], actor), row
