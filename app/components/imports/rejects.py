"""Rejected rows: one report file per chunk, written with the chunk, and the download to fix and import again.

A report holds each rejected row's original cells and why (a kind and its detail); the reason is written out in
the reader's language when the file is downloaded. The download is a CSV of the original columns plus `reason`,
kept as long as the job's folder (RETENTION_DAYS).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound
from app.components.imports.jobs import RETENTION_DAYS, get_job, job_dir, rejects_dir
from app.components.imports.reading import csv_line
from app.components.imports.rows import field_label, map_header, validate_row
from app.i18n import _


@dataclass
class Reject:
    """A rejected row: its original cells and why (recomputed in the reader's language when downloaded)."""

    row_no: int
    cells: list[str]
    kind: str  # invalid | id_conflict | name_conflict | health_consent
    detail: list[str] = field(default_factory=list)

    def dump(self) -> str:
        return json.dumps([self.row_no, self.kind, self.detail, self.cells], ensure_ascii=False)


def write_rejects(job_key: str, start: int, rejects: list[Reject]) -> None:
    """The report of the chunk starting after row `start` (replaced atomically; none when nothing was rejected)."""
    folder = rejects_dir(job_key)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{start:09d}.jsonl"
    if not rejects:
        target.unlink(missing_ok=True)
        return
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for reject in rejects:
            fh.write(reject.dump() + "\n")
    tmp.replace(target)


def drop_rejects_from(job_key: str, processed: int) -> None:
    """Forget reports of chunks that were written but never committed (a worker died in between)."""
    folder = rejects_dir(job_key)
    if folder.exists():
        for path in folder.iterdir():
            if path.suffix == ".tmp" or (path.stem.isdigit() and int(path.stem) >= processed):
                path.unlink(missing_ok=True)


def reason_text(kind: str, detail: list[str], cells: dict[str, str], row_no: int) -> str:
    """Why a row was rejected, in the current language."""
    who = ", ".join(
        _("row %(n)s of this file") % {"n": d[1:]} if d.startswith("#") else _("member %(no)s") % {"no": d}
        for d in detail
    )
    if kind == "name_conflict":
        message = _("The resident ID number is already on record for %(member)s under another name: check it.")
        return message % {"member": who}
    if kind == "id_conflict":
        message = _("Same phone and name as %(member)s, but another resident ID number: check the ID number.")
        return message % {"member": who}
    if kind == "health_consent":
        return _(
            "Allergies and conditions are stored only with the member's consent to process health data: "
            "write 是 in the health data consent column, or leave the health columns empty."
        )
    errors, _clean = validate_row(row_no, cells)
    wanted = [f for f in detail if f in errors] or list(errors)
    return "; ".join(f"{field_label(f)}: {errors[f]}" for f in wanted)


async def rejected_rows(job_key: str, actor: StaffUser) -> AsyncIterator[bytes]:
    """The rejected rows as CSV (UTF-8 with BOM, for Excel): the original columns plus `reason`."""
    job = await get_job(job_key, actor)
    folder = rejects_dir(job.key)
    try:
        header = json.loads((job_dir(job.key) / "header.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        message = _("The rejected rows of this import were deleted after %(days)s days: import the file again.")
        raise NotFound(message % {"days": RETENTION_DAYS}) from None
    keys = map_header(header)
    positions = [(i, k) for i, k in enumerate(keys) if k]

    async def generate() -> AsyncIterator[bytes]:
        yield codecs.BOM_UTF8 + csv_line([*header, "reason"])
        files = sorted(folder.glob("*.jsonl")) if folder.exists() else []
        for path in files:
            if int(path.stem) >= job.processed:
                continue
            lines = []
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    row_no, kind, detail, cells = json.loads(line)
                    by_key = {k: cells[i] for i, k in positions if i < len(cells)}
                    lines.append(csv_line([*cells, reason_text(kind, detail, by_key, row_no)]))
            yield b"".join(lines)

    return generate()
