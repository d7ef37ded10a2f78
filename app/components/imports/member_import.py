"""Bulk import of existing customers from .csv/.xlsx: streamed, validated, matched and applied in chunks.

A job is a row in `import_job` plus a folder under `YAOSHI_DATA_DIR/imports/<job_key>/` holding the uploaded
file (deleted when the job ends), its header and one file of rejected rows per chunk. The worker reads the file
row by row, validates each row with the registration rules, matches it against existing members (set-based,
one query per key kind per chunk) and writes a whole chunk in one transaction together with the job's progress.
A retried job resumes after the last committed chunk; a re-run of the same file matches every row and changes
nothing, so nothing is ever doubled.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from app.components import audit, consents, timeline
from app.components.allergies import DATA, allergen_classes
from app.components.core.actor import StaffUser
from app.components.core.crypto import decrypt, encrypt
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import HQ_ROLES
from app.components.members import (
    NewMember,
    id_number_index,
    mask_phone,
    member_no_for,
    next_serials,
    phone_index,
    validate_new_member,
)
from app.db import execute_many, fetch, is_sqlite, marks, placeholders, transaction
from app.i18n import _, current_language, pick, use_language
from app.settings import get_settings

CHUNK = 2000
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
EXTENSIONS = (".csv", ".xlsx")
# Workbooks up to this size are read whole by calamine (fast); larger ones stream through openpyxl.
CALAMINE_MAX_BYTES = 6 * 1024 * 1024
RETENTION_DAYS = 7
ACTIVE = ("queued", "running")
IMPORT_AUDIT = "member.import"

# ---------------------------------------------------------------- the columns a file may carry


@dataclass(frozen=True)
class Column:
    """One importable column: its key, its header in both languages and other headers people use."""

    key: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return pick(self.zh, self.en)


COLUMNS = (
    Column("name", "姓名", "Name", ("名字", "客户姓名", "会员姓名", "顾客姓名")),
    Column("gender", "性别", "Gender", ("sex",)),
    Column("birth_date", "出生日期", "Birth date", ("生日", "出生年月日", "birthday", "date of birth", "dob")),
    Column("phone", "手机号", "Mobile phone", ("手机", "手机号码", "电话", "联系电话", "mobile", "phone number")),
    Column("address", "地址", "Address", ("住址", "联系地址", "家庭住址")),
    Column("id_number", "身份证号", "Resident ID number", ("身份证", "身份证号码", "id number", "resident id")),
    Column("member_class", "会员类别", "Member class", ("会员类型", "客户类别", "客户类型", "class")),
    Column("organisation", "单位", "Organisation", ("所属单位", "机构", "工作单位", "organization", "company")),
    Column("allergies", "过敏类别", "Allergy classes", ("过敏", "过敏史", "过敏药物", "allergy", "allergy class")),
    Column("conditions", "慢病", "Conditions", ("疾病", "慢性病", "慢病病种", "condition")),
    Column("consent_health", "健康数据授权", "Consent: health data", ("health data consent",)),
    Column("consent_sms", "短信营销授权", "Consent: marketing SMS", ("sms consent",)),
    Column("consent_wechat", "微信营销授权", "Consent: marketing WeChat", ("wechat consent",)),
    Column("consent_kiosk", "自助机显示授权", "Consent: kiosk display", ("kiosk consent",)),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
CONSENT_COLUMNS = {
    "consent_health": consents.HEALTH_DATA,
    "consent_sms": consents.MARKETING_SMS,
    "consent_wechat": consents.MARKETING_WECHAT,
    "consent_kiosk": consents.KIOSK_DISPLAY,
}
_HEADER_NOISE = re.compile(r"[\(（\[【].*?[\)）\]】]|[\s_\-:：*＊]")


def _norm_header(text: str) -> str:
    return _HEADER_NOISE.sub("", str(text or "")).lower()


@cache
def _header_aliases(columns: tuple[Column, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for col in columns:
        for name in (col.key, col.zh, col.en, *col.aliases):
            found.setdefault(_norm_header(name), col.key)
    return found


def map_header(cells: list[str], columns: tuple[Column, ...] = COLUMNS) -> list[str | None]:
    """The column key of each header cell (None for columns we do not import; the first of a repeat wins)."""
    aliases = _header_aliases(columns)
    seen: set[str] = set()
    keys: list[str | None] = []
    for cell in cells:
        key = aliases.get(_norm_header(cell))
        keys.append(key if key and key not in seen else None)
        if key:
            seen.add(key)
    return keys


# ---------------------------------------------------------------- vocabularies for coded columns

_LIST_SPLIT = re.compile(r"[;；,，、|\n]+")
_PARENS = re.compile(r"[\(（].*?[\)）]")
_NONE_WORDS = {"无", "没有", "无过敏", "否认", "none", "no", "nka", "nkda", "no known allergies", "无已知过敏"}
_YES = {"是", "同意", "已同意", "y", "yes", "true", "1", "√", "✓", "✔", "授权", "已授权"}
_NO = {"否", "不同意", "拒绝", "n", "no", "false", "0", "×", "✗", "未授权", "不授权"}


def _vocab_key(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@cache
def _allergen_lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for cls in allergen_classes().values():
        for name in (cls.code, cls.name_zh, cls.name_en, _PARENS.sub("", cls.name_zh), _PARENS.sub("", cls.name_en)):
            found.setdefault(_vocab_key(name), cls.code)
    return found


@cache
def condition_vocabulary() -> dict[str, tuple[str, str]]:
    """Condition code → (Chinese, English) name, from the shared vocabulary file."""
    with open(DATA / "conditions.csv", encoding="utf-8") as fh:
        return {row["code"]: (row["name_zh"], row["name_en"]) for row in csv.DictReader(fh)}


@cache
def _condition_lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for code, (zh, en) in condition_vocabulary().items():
        for name in (code, zh, en, *zh.split("/")):
            found.setdefault(_vocab_key(name), code)
    return found


# ---------------------------------------------------------------- one row: cells → clean values or errors


@dataclass
class Row:
    """A validated row, ready to match and apply."""

    row_no: int
    name: str
    gender: str
    birth_date: date | None
    phone: str | None
    id_number: str | None
    address: str | None
    member_class: str | None
    organisation: str | None
    allergy_status: str | None  # None: column empty; "none" or "has_allergies"
    allergies: tuple[str, ...]
    conditions: tuple[str, ...]
    consents: dict[str, bool]
    phone_idx: str | None = None
    id_idx: str | None = None

    @property
    def wants_health(self) -> bool:
        return bool(self.allergies or self.conditions or self.allergy_status)


_DATE_PARTS = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_GENDERS = {"男": "M", "女": "F", "m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "未知": "U", "不详": "U"}
_CLASSES = {
    "regular": "regular",
    "普通": "regular",
    "普通顾客": "regular",
    "散客": "regular",
    "member": "member",
    "会员": "member",
    "普通会员": "member",
    "key_account": "key_account",
    "keyaccount": "key_account",
    "key account": "key_account",
    "大客户": "key_account",
    "团购": "key_account",
    "机构": "key_account",
}


def _normalize_date(text: str) -> str:
    text = text.strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    found = _DATE_PARTS.match(text)
    if found:
        y, m, d = found.groups()
        return f"{y}-{int(m):02d}-{int(d):02d}"
    return text


def _parse_list(text: str, lookup: dict[str, str]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    unknown: list[str] = []
    for part in _LIST_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        code = lookup.get(_vocab_key(part))
        if code is None:
            unknown.append(part)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def validate_row(row_no: int, cells: dict[str, str]) -> tuple[dict[str, str], Row | None]:
    """Field errors (in the current language) and the clean row, from the cells of one row by column key."""
    text = {k: (v or "").strip() for k, v in cells.items()}
    for key in ("phone", "id_number"):
        text[key] = text.get(key, "").lstrip("'").replace(" ", "")
    gender_raw = text.get("gender", "")
    gender = _GENDERS.get(gender_raw.lower(), gender_raw.upper() or "U")
    class_raw = text.get("member_class", "")
    member_class = _CLASSES.get(class_raw.lower(), class_raw) if class_raw else ""
    values = {
        "name": text.get("name", ""),
        "gender": gender,
        "birth_date": _normalize_date(text.get("birth_date", "")),
        "phone": text.get("phone", ""),
        "address": text.get("address", ""),
        "id_number": text.get("id_number", "").upper(),
        "member_class": member_class,
        "organisation": text.get("organisation", ""),
    }
    errors, clean = validate_new_member(NewMember(**values))
    allergy_status = None
    allergies: list[str] = []
    raw = text.get("allergies", "")
    if raw:
        if _vocab_key(raw) in _NONE_WORDS:
            allergy_status = "none"
        else:
            allergies, unknown = _parse_list(raw, _allergen_lookup())
            if unknown:
                message = _("Unknown allergy class %(names)s: use a code or name from the allergen list.")
                errors["allergies"] = message % {"names": "、".join(unknown)}
            allergy_status = "has_allergies"
    conditions: list[str] = []
    raw = text.get("conditions", "")
    if raw and _vocab_key(raw) not in _NONE_WORDS:
        conditions, unknown = _parse_list(raw, _condition_lookup())
        if unknown:
            errors["conditions"] = _("Unknown condition %(names)s: use a code or name from the conditions list.") % {
                "names": "、".join(unknown)
            }
    granted: dict[str, bool] = {}
    for key, purpose in CONSENT_COLUMNS.items():
        raw = _vocab_key(text.get(key, ""))
        if not raw:
            continue
        if raw in _YES:
            granted[purpose] = True
        elif raw in _NO:
            granted[purpose] = False
        else:
            errors[key] = _("Write 是 or 否 (yes or no), or leave the cell empty.")
    if errors:
        return errors, None
    phone = clean.get("phone")
    id_number = clean.get("id_number")
    row = Row(
        row_no=row_no,
        name=clean["name"],
        gender=clean["gender"],
        birth_date=clean.get("birth_date"),
        phone=phone,
        id_number=id_number,
        address=clean.get("address") or None,
        # An empty cell changes nothing: registration's default class is not a value from the file.
        member_class=clean.get("member_class") if class_raw else None,
        organisation=clean.get("organisation") or None,
        allergy_status=allergy_status,
        allergies=tuple(allergies),
        conditions=tuple(conditions),
        consents=granted,
        phone_idx=phone_index(phone) if phone else None,
        id_idx=id_number_index(id_number) if id_number else None,
    )
    return {}, row


# ---------------------------------------------------------------- reading files with bounded memory


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _csv_encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(256 * 1024)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"  # what Excel saves as "CSV" on a Chinese Windows
    return "utf-8"


@contextmanager
def open_rows(path: Path) -> Iterator[Iterator[list[str]]]:
    """The rows of a .csv or .xlsx file as lists of stripped strings (the header first), read lazily.

    A CSV file streams through the csv module. A workbook up to `CALAMINE_MAX_BYTES` is read by calamine
    (Rust; about ten times faster, but it holds the sheet in memory: roughly 13 bytes per byte of file);
    a larger one streams through openpyxl's read-only mode, so memory stays bounded for any size.
    """
    if path.suffix.lower() == ".xlsx" and path.stat().st_size <= CALAMINE_MAX_BYTES:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        try:
            sheet = book.get_sheet_by_index(0)
            yield ([_cell_text(v) for v in row] for row in sheet.iter_rows())
        finally:
            book.close()
        return
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            yield ([_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
        finally:
            workbook.close()
        return
    with path.open(encoding=_csv_encoding(path), newline="") as fh:
        first = fh.readline()
        delimiter = max(",;\t", key=first.count) if first else ","
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        yield ([c.strip() for c in row] for row in reader)


def _is_blank(cells: list[str]) -> bool:
    return not any(cells)


def read_header(path: Path) -> list[str]:
    """The first non-blank row of a file (raises ValueError when the file cannot be read)."""
    try:
        with open_rows(path) as rows:
            for cells in rows:
                if not _is_blank(cells):
                    while cells and not cells[-1]:
                        cells.pop()
                    return cells
    except Exception as exc:  # bad encodings, CSV errors, and whatever a file that is no workbook makes openpyxl raise
        raise ValueError(str(exc)) from exc
    return []


def data_rows(path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every non-blank row after the header; row numbers count from the header's 1."""
    with open_rows(path) as rows:
        header_seen = False
        number = 0
        for cells in rows:
            if not header_seen:
                if _is_blank(cells):
                    continue
                header_seen = True
                number = 1
                continue
            number += 1
            if _is_blank(cells):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield number, cells[:width]


def count_rows(path: Path) -> int:
    """How many data rows a file has (exact for CSV; for a workbook the sheet's own size, blank rows included)."""
    if path.suffix.lower() == ".xlsx" and path.stat().st_size <= CALAMINE_MAX_BYTES:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        try:
            return max(0, book.get_sheet_by_index(0).height - 1)
        finally:
            book.close()
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            return max(0, (workbook.worksheets[0].max_row or 1) - 1)
        finally:
            workbook.close()
    return sum(1 for _ in data_rows(path, 1))


# ---------------------------------------------------------------- job folders


def imports_dir() -> Path:
    """Where uploaded files and reports live."""
    path = get_settings().data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_dir(job_key: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", job_key or ""):
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    return imports_dir() / job_key


def _source(job_key: str, filename: str) -> Path:
    ext = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    return job_dir(job_key) / f"source{ext}"


def _rejects_dir(job_key: str) -> Path:
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


# ---------------------------------------------------------------- jobs: submit, view


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


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_JOB_SQL = (
    "SELECT j.id, j.job_key, j.status, j.filename, j.file_sha256, j.total, j.processed, j.accepted, j.updated,"
    " j.unchanged, j.rejected, j.error, j.created_at, j.finished_at, j.store AS store_id, j.staff AS staff_id,"
    " st.code AS store_code, st.name AS store_name, s.display_name AS staff_name"
    " FROM import_job j LEFT JOIN store st ON st.id = j.store LEFT JOIN staff s ON s.id = j.staff"
)


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
        created_at=_as_datetime(row["created_at"]),
        finished_at=_as_datetime(row["finished_at"]),
        store_id=row["store_id"],
    )


def _may_see(actor: StaffUser, store_id: int | None) -> bool:
    return actor.role in HQ_ROLES or (actor.store_id is not None and actor.store_id == store_id)


async def job_of_kind(job_key: str, kind: str) -> ImportJobView | None:
    """One import job of a kind (members, catalog …) by its key, unscoped; None when there is none."""
    rows = await fetch(_JOB_SQL + " WHERE j.job_key = {} AND j.kind = {}", job_key, kind)
    return job_view(rows[0]) if rows else None


async def jobs_of_kind(kind: str, limit: int = 10) -> list[ImportJobView]:
    """The latest import jobs of a kind, newest first, unscoped."""
    rows = await fetch(_JOB_SQL + " WHERE j.kind = {} ORDER BY j.id DESC LIMIT {}", kind, int(limit))
    return [job_view(r) for r in rows]


async def get_job(job_key: str, actor: StaffUser) -> ImportJobView:
    """One member import the actor may see (their store's, or any for HQ); NotFound otherwise."""
    rows = await fetch(_JOB_SQL + " WHERE j.job_key = {} AND j.kind = 'members'", job_key)
    if not rows or not _may_see(actor, rows[0]["store_id"]):
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    return job_view(rows[0])


async def recent_jobs(actor: StaffUser, limit: int = 10) -> list[ImportJobView]:
    """The latest member imports in the actor's scope, newest first (catalog imports have their own list)."""
    if actor.role in HQ_ROLES:
        rows = await fetch(_JOB_SQL + f" WHERE j.kind = 'members' ORDER BY j.id DESC LIMIT {int(limit)}")
    else:
        rows = await fetch(
            _JOB_SQL + f" WHERE j.store = {{}} AND j.kind = 'members' ORDER BY j.id DESC LIMIT {int(limit)}",
            actor.store_id,
        )
    return [job_view(r) for r in rows]


async def stores() -> list[dict]:
    """Active stores (code, name) for HQ to pick from."""
    return await fetch("SELECT id, code, name FROM store WHERE active = {} ORDER BY code", True)


async def _target_store(actor: StaffUser, store_code: str) -> int:
    if actor.role not in HQ_ROLES:
        if actor.store_id is None:
            raise ValidationFailed({"store": _("Name the members' home store.")})
        return actor.store_id
    if not store_code:
        raise ValidationFailed({"store": _("Choose the store the members belong to.")})
    rows = await fetch("SELECT id FROM store WHERE code = {}", store_code.strip())
    if not rows:
        raise ValidationFailed({"store": _("No store with code %(code)s.") % {"code": store_code}})
    return rows[0]["id"]


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
    filename = os.path.basename((filename or "").replace("\\", "/")).strip()[:200]
    if not filename:
        raise ValidationFailed({"file": _("Choose a .xlsx or .csv file to upload.")})
    if not filename.lower().endswith(EXTENSIONS):
        raise ValidationFailed({"file": _("Only .xlsx and .csv files can be imported.")})
    store_id = await _target_store(actor, store_code)
    tmp = imports_dir() / f"upload-{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ValidationFailed(
                        {"file": _("The file is larger than %(mb)s MB: split it.") % {"mb": MAX_UPLOAD_BYTES >> 20}}
                    )
                digest.update(chunk)
                fh.write(chunk)
        if size == 0:
            raise ValidationFailed({"file": _("The file is empty.")})
        checked = tmp.with_suffix(".xlsx" if filename.lower().endswith(".xlsx") else ".csv")
        tmp.rename(checked)
        tmp = checked
        try:
            header = await asyncio.to_thread(read_header, tmp)  # a workbook takes a moment to open
        except ValueError:
            raise ValidationFailed({"file": error_label("unreadable")}) from None
        if "name" not in map_header(header):
            raise ValidationFailed({"file": error_label("no_name_column")})
        sha = digest.hexdigest()
        async with transaction():
            if not is_sqlite():
                # Two submits of one file at the same moment: the second waits and finds the first.
                await fetch("SELECT pg_advisory_xact_lock(hashtext({}))", f"import:{actor.id}:{sha}")
            found = await fetch(
                "SELECT job_key FROM import_job WHERE staff = {} AND store = {} AND file_sha256 = {}"
                " AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
                actor.id,
                store_id,
                sha,
            )
            if found:
                key, existing = found[0]["job_key"], True
            else:
                key, existing = uuid.uuid4().hex, False
                folder = job_dir(key)
                folder.mkdir(parents=True)
                (folder / "header.json").write_text(json.dumps(header, ensure_ascii=False), encoding="utf-8")
                tmp.rename(_source(key, filename))
                await fetch(
                    "INSERT INTO import_job (job_key, kind, store, staff, filename, file_sha256, status, created_at)"
                    " VALUES ({}, 'members', {}, {}, {}, {}, 'queued', {})",
                    key,
                    store_id,
                    actor.id,
                    filename,
                    sha,
                    datetime.now(UTC),
                )
    finally:
        if tmp.exists():
            tmp.unlink()
    return Submitted(job=await get_job(key, actor), existing=existing)


async def mark_failed(job_key: str, code: str) -> None:
    """End a job with an error code (see `error_label`)."""
    await fetch(
        "UPDATE import_job SET status = 'failed', error = {}, finished_at = {} WHERE job_key = {}"
        " AND status IN ('queued', 'running')",
        code,
        datetime.now(UTC),
        job_key,
    )


# ---------------------------------------------------------------- matching and applying one chunk


@dataclass(eq=False)
class Person:
    """A member as a chunk sees it: loaded from the database, or about to be created from a row."""

    id: int | None
    member_no: str | None
    name: str
    gender: str
    birth_date: date | None
    phone_idx: str | None
    id_idx: str | None
    address_enc: str | None
    member_class: str
    organisation: str
    allergy_status: str
    allergy_status_by: int | None
    allergy_status_at: datetime | None
    consents: dict[str, bool]
    allergies: set[str] = field(default_factory=set)
    conditions: set[str] = field(default_factory=set)
    # What this import changes.
    phone: str | None = None
    id_number: str | None = None
    address: str | None = None
    address_known: bool = False
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    new_allergies: list[str] = field(default_factory=list)
    new_conditions: list[str] = field(default_factory=list)
    consent_changes: dict[str, bool] = field(default_factory=dict)

    first_row: int = 0

    @property
    def ref(self) -> str:
        """How a rejected row names this person: a member number, or the row of this file that creates them."""
        return self.member_no or f"#{self.first_row}"

    def current_address(self) -> str | None:
        if not self.address_known:
            self.address = decrypt(self.address_enc, "address") if self.address_enc else None
            self.address_known = True
        return self.address


# Values of encrypted fields never go into the change history, only the fact that they changed.
_SECRET_FIELDS = {"phone", "id_number", "address"}


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    return date.fromisoformat(str(value)[:10])


_CANDIDATE_COLS = (
    "id, member_no, name, gender, birth_date, phone_index, id_number_index, address_enc, member_class, organisation,"
    " allergy_status, allergy_status_by, allergy_status_at, consent_health, consent_marketing_sms,"
    " consent_marketing_wechat, consent_kiosk"
)


async def _candidates(rows: list[Row]) -> list[Person]:
    """Every live member who shares a resident ID, a phone, or a name and birth date with one of `rows`, with
    their allergies and conditions: three queries whatever the chunk size (`_Index` then applies the rule).

    Not an OR of one clause per name and birth date: PostgreSQL plans that as one index scan per pair (20,000
    rows: 8.8 s there against 0.5 s for the row-value IN below; the same on SQLite).
    """
    by_id: dict[int, dict] = {}
    phones = sorted({r.phone_idx for r in rows if r.phone_idx})
    ids = sorted({r.id_idx for r in rows if r.id_idx})
    pairs = sorted({(r.name, r.birth_date) for r in rows if r.birth_date})
    base = f"SELECT {_CANDIDATE_COLS} FROM member WHERE merged_into IS NULL AND "
    if phones:
        by_id.update((m["id"], m) for m in await fetch(base + f"phone_index IN ({marks(phones)})", *phones))
    if ids:
        by_id.update((m["id"], m) for m in await fetch(base + f"id_number_index IN ({marks(ids)})", *ids))
    if pairs:
        # A row-value IN is one index probe per pair on both engines (separate INs on name and on birth date
        # make SQLite probe every name with every date).
        pair_sql = "({}, {})" if is_sqlite() else "({}, {}::date)"
        values = ", ".join(pair_sql for _ in pairs)
        args = [v for pair in pairs for v in pair]
        by_id.update((m["id"], m) for m in await fetch(base + f"(name, birth_date) IN (VALUES {values})", *args))
    if not by_id:
        return []
    member_ids = sorted(by_id)
    found = [by_id[i] for i in member_ids]
    people = {
        m["id"]: Person(
            id=m["id"],
            member_no=m["member_no"],
            name=m["name"],
            gender=m["gender"],
            birth_date=_as_date(m["birth_date"]),
            phone_idx=m["phone_index"],
            id_idx=m["id_number_index"],
            address_enc=m["address_enc"],
            member_class=m["member_class"],
            organisation=m["organisation"] or "",
            allergy_status=m["allergy_status"],
            allergy_status_by=m["allergy_status_by"],
            allergy_status_at=_as_datetime(m["allergy_status_at"]),
            consents={p: bool(m[consents.COLUMNS[p]]) for p in consents.PURPOSES},
        )
        for m in found
    }
    for a in await fetch(
        "SELECT member, allergen_class FROM allergy WHERE clinical_status = 'active'"
        f" AND member IN ({marks(member_ids)})",
        *member_ids,
    ):
        people[a["member"]].allergies.add(a["allergen_class"])
    for c in await fetch(
        f"SELECT member, code FROM member_condition WHERE status = 'active' AND member IN ({marks(member_ids)})",
        *member_ids,
    ):
        people[c["member"]].conditions.add(c["code"])
    return list(people.values())


class _Index:
    """The chunk's people by matching key, with the bulk matching rule (the one place it lives): resident ID first, then
    phone and name, then name and birth date (a shared phone alone is no identity). Earlier people win a tie,
    so members already in the database come before people this chunk creates. Rows are applied in file order,
    so a later row about a person created by an earlier row of the same chunk updates that person.

    One guard on top: a name and birth date match is not taken when both sides have a phone number (or a
    resident ID) and they differ. Common names share birthdays; overwriting one person's phone with another's
    would be worse than a duplicate, which a pharmacist can merge."""

    def __init__(self) -> None:
        self.by_id: dict[str, Person] = {}
        self.by_phone_name: dict[tuple[str, str], Person] = {}
        self.by_name_birth: dict[tuple[str, date], Person] = {}

    def add(self, p: Person) -> None:
        if p.id_idx:
            self.by_id.setdefault(p.id_idx, p)
        if p.phone_idx:
            self.by_phone_name.setdefault((p.phone_idx, p.name), p)
        if p.birth_date:
            self.by_name_birth.setdefault((p.name, p.birth_date), p)

    def match(self, r: Row) -> Person | None:
        if r.id_idx and (found := self.by_id.get(r.id_idx)):
            return found
        if r.phone_idx and (found := self.by_phone_name.get((r.phone_idx, r.name))):
            return found
        if r.birth_date and (found := self.by_name_birth.get((r.name, r.birth_date))):
            phones_differ = r.phone_idx and found.phone_idx and r.phone_idx != found.phone_idx
            ids_differ = r.id_idx and found.id_idx and r.id_idx != found.id_idx
            if not (phones_differ or ids_differ):
                return found
        return None


def _new_person(r: Row) -> Person:
    p = Person(
        first_row=r.row_no,
        id=None,
        member_no=None,
        name=r.name,
        gender=r.gender,
        birth_date=r.birth_date,
        phone_idx=r.phone_idx,
        id_idx=r.id_idx,
        address_enc=None,
        member_class=r.member_class or "member",
        organisation=r.organisation or "",
        allergy_status=r.allergy_status or "unknown",
        allergy_status_by=None,
        allergy_status_at=None,
        consents={p: False for p in consents.PURPOSES},
        phone=r.phone,
        id_number=r.id_number,
        address=r.address,
        address_known=True,
    )
    p.allergies = set(r.allergies)
    p.new_allergies = list(r.allergies)
    p.conditions = set(r.conditions)
    p.new_conditions = list(r.conditions)
    for purpose, granted in r.consents.items():
        if granted:
            p.consents[purpose] = True
            p.consent_changes[purpose] = True
    return p


def _merge(p: Person, r: Row) -> bool:
    """Apply a row to a person; True when anything differs. Empty cells never erase what is known, and the
    name is never changed (the person was matched on it, or on the resident ID with the same name)."""
    dirty = False

    def change(name: str, old: Any, new: Any) -> None:
        nonlocal dirty
        dirty = True
        secret = name in _SECRET_FIELDS  # the history says that it changed, never the values
        first_old = p.changed.get(name, ("" if secret else str(old or ""), ""))[0]
        p.changed[name] = (first_old, "" if secret else str(new or ""))

    if r.gender != "U" and r.gender != p.gender:
        change("gender", p.gender, r.gender)
        p.gender = r.gender
    if r.birth_date and r.birth_date != p.birth_date:
        change("birth_date", p.birth_date, r.birth_date)
        p.birth_date = r.birth_date
    if r.phone_idx and r.phone_idx != p.phone_idx:
        change("phone", "", "")
        p.phone, p.phone_idx = r.phone, r.phone_idx
    if r.id_idx and r.id_idx != p.id_idx:
        change("id_number", "", "")
        p.id_number, p.id_idx = r.id_number, r.id_idx
    if r.address and r.address != p.current_address():
        change("address", "", "")
        p.address = r.address
    if r.member_class and r.member_class != p.member_class:
        change("member_class", p.member_class, r.member_class)
        p.member_class = r.member_class
    if r.organisation and r.organisation != p.organisation:
        change("organisation", p.organisation, r.organisation)
        p.organisation = r.organisation
    for code in r.allergies:
        if code not in p.allergies:
            dirty = True
            p.allergies.add(code)
            p.new_allergies.append(code)
    if p.new_allergies and p.allergy_status != "has_allergies":
        change("allergy_status", p.allergy_status, "has_allergies")
        p.allergy_status = "has_allergies"
    if r.allergy_status == "none" and p.allergy_status == "unknown":
        change("allergy_status", p.allergy_status, "none")
        p.allergy_status = "none"
    for code in r.conditions:
        if code not in p.conditions:
            dirty = True
            p.conditions.add(code)
            p.new_conditions.append(code)
    for purpose, granted in r.consents.items():
        if p.consents[purpose] != granted:
            dirty = True
            p.consents[purpose] = granted
            p.consent_changes[purpose] = granted
    return dirty


@dataclass
class Reject:
    """A rejected row: its original cells and why (recomputed in the reader's language when downloaded)."""

    row_no: int
    cells: list[str]
    kind: str  # invalid | id_conflict | name_conflict | health_consent
    detail: list[str] = field(default_factory=list)

    def dump(self) -> str:
        return json.dumps([self.row_no, self.kind, self.detail, self.cells], ensure_ascii=False)


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


def _ph(i: int) -> str:
    return "?" if is_sqlite() else f"${i}"


def _insert_sql(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders(len(cols))})"


_MEMBER_COLS = (
    "member_no",
    "name",
    "gender",
    "birth_date",
    "phone_enc",
    "phone_index",
    "phone_masked",
    "id_number_enc",
    "id_number_index",
    "address_enc",
    "member_class",
    "organisation",
    "home_store",
    *(consents.COLUMNS[p] for p in consents.PURPOSES),
    "allergy_status",
    "allergy_status_by",
    "allergy_status_at",
    "created_at",
    "updated_at",
    "verification_due",
)
_UPDATE_COLS = (
    "name",
    "gender",
    "birth_date",
    "phone_enc",
    "phone_index",
    "phone_masked",
    "id_number_enc",
    "id_number_index",
    "address_enc",
    "member_class",
    "organisation",
    *(consents.COLUMNS[p] for p in consents.PURPOSES),
    "allergy_status",
    "allergy_status_by",
    "allergy_status_at",
    "updated_at",
)
_ALLERGY_COLS = (
    "member",
    "allergen_class",
    "substance",
    "category",
    "allergy_type",
    "criticality",
    "reaction",
    "severity",
    "verification_status",
    "clinical_status",
    "note",
    "recorded_by",
    "recorded_at",
)
_CONDITION_COLS = ("member", "code", "source", "status", "note", "evidence", "recorded_by", "recorded_at")
_CONSENT_COLS = ("member", "purpose", "granted", "at", "channel", "staff", "text_version")
_EVENT_COLS = ("member", "at", "kind", "summary", "staff", "store", "ref")
_CHANGE_COLS = ("member", "at", "staff", "field", "old_value", "new_value")


@dataclass
class JobContext:
    """What every chunk of one job needs."""

    id: int
    key: str
    filename: str
    store_id: int
    actor: StaffUser


async def _apply_chunk(job: JobContext, start: int, rows: list[Row]) -> tuple[Counts, list[Reject]] | None:
    """Match and write one chunk; None when another run already committed it. Call inside a transaction."""
    lock = "" if is_sqlite() else " FOR UPDATE"
    state = await fetch(f"SELECT processed FROM import_job WHERE id = {{}}{lock}", job.id)
    if state[0]["processed"] != start:
        return None
    counts = Counts()
    rejects: list[Reject] = []
    index = _Index()
    for p in await _candidates(rows):
        index.add(p)
    touched: list[Person] = []
    created: list[Person] = []
    for r in rows:
        person = index.match(r)
        if person is not None and r.id_idx and person.id_idx and r.id_idx != person.id_idx:
            # Same phone and name but another resident ID: a typo, or another person; a person decides.
            rejects.append(Reject(r.row_no, [], "id_conflict", [person.ref]))
            continue
        if person is not None and person.name != r.name:
            # The resident ID matched someone of another name: most likely a mistyped ID. An import never renames.
            rejects.append(Reject(r.row_no, [], "name_conflict", [person.ref]))
            continue
        if r.wants_health:
            agreed = r.consents.get(consents.HEALTH_DATA)
            if agreed is None and person is not None:
                agreed = person.consents[consents.HEALTH_DATA]
            if not agreed:
                rejects.append(Reject(r.row_no, [], "health_consent"))
                continue
        if person is None:
            person = _new_person(r)
            created.append(person)
            index.add(person)
            counts.accepted += 1
            continue
        if _merge(person, r):
            counts.updated += 1
            if person.id is not None and person not in touched:
                touched.append(person)
        else:
            counts.unchanged += 1
        index.add(person)
    counts.rejected = len(rejects)
    await _write(job, created, touched)
    return counts, rejects


async def _write(job: JobContext, created: list[Person], touched: list[Person]) -> None:
    """Insert the new members and update the matched ones, with their health data, consents and history."""
    actor = job.actor
    now = datetime.now(UTC)
    if created:
        first = await next_serials("member", len(created))
        for i, p in enumerate(created):
            p.member_no = member_no_for(first + i)
            if p.allergy_status != "unknown":
                p.allergy_status_by, p.allergy_status_at = actor.id, now
        await execute_many(
            _insert_sql("member", _MEMBER_COLS),
            [
                (
                    p.member_no,
                    p.name,
                    p.gender,
                    p.birth_date,
                    encrypt(p.phone, "phone") if p.phone else None,
                    p.phone_idx,
                    mask_phone(p.phone),
                    encrypt(p.id_number, "id_number") if p.id_number else None,
                    p.id_idx,
                    encrypt(p.address, "address") if p.address else None,
                    p.member_class,
                    p.organisation,
                    job.store_id,
                    *(p.consents[purpose] for purpose in consents.PURPOSES),
                    p.allergy_status,
                    p.allergy_status_by,
                    p.allergy_status_at,
                    now,
                    now,
                    False,
                )
                for p in created
            ],
        )
        rows = await fetch(
            "SELECT id, member_no FROM member WHERE member_no >= {} AND member_no <= {}",
            member_no_for(first),
            member_no_for(first + len(created) - 1),
        )
        ids = {r["member_no"]: r["id"] for r in rows}
        for p in created:
            p.id = ids[p.member_no]
    if touched:
        where = _ph(len(_UPDATE_COLS) + 1)
        assignments = ", ".join(f"{c} = {_ph(i)}" for i, c in enumerate(_UPDATE_COLS, start=1))
        updates = []
        for p in touched:
            if p.new_allergies or "allergy_status" in p.changed:
                p.allergy_status_by, p.allergy_status_at = actor.id, now
            phone_enc = encrypt(p.phone, "phone") if "phone" in p.changed and p.phone else None
            updates.append(
                (
                    p.name,
                    p.gender,
                    p.birth_date,
                    phone_enc,
                    p.phone_idx,
                    mask_phone(p.phone) if "phone" in p.changed else None,
                    encrypt(p.id_number, "id_number") if "id_number" in p.changed and p.id_number else None,
                    p.id_idx,
                    encrypt(p.address, "address") if "address" in p.changed and p.address else None,
                    p.member_class,
                    p.organisation,
                    *(p.consents[purpose] for purpose in consents.PURPOSES),
                    p.allergy_status,
                    p.allergy_status_by,
                    p.allergy_status_at,
                    now,
                    p.id,
                )
            )
        # Encrypted columns and the mask change only when their value did: COALESCE keeps the stored ones.
        sql = f"UPDATE member SET {assignments} WHERE id = {where}"
        for col in ("phone_enc", "phone_masked", "id_number_enc", "address_enc"):
            i = _UPDATE_COLS.index(col) + 1
            sql = sql.replace(f"{col} = {_ph(i)}", f"{col} = COALESCE({_ph(i)}, {col})", 1)
        await execute_many(sql, updates)
    everyone = created + touched
    allergy_rows = [
        (
            p.id,
            code,
            "",
            allergen_classes()[code].category,
            "allergy",
            "unable-to-assess",
            "",
            "",
            "unconfirmed",
            "active",
            "",
            actor.id,
            now,
        )
        for p in everyone
        for code in p.new_allergies
    ]
    if allergy_rows:
        await execute_many(_insert_sql("allergy", _ALLERGY_COLS), allergy_rows)
    condition_rows = [
        (p.id, code, "declared", "active", "", "", actor.id, now) for p in everyone for code in p.new_conditions
    ]
    if condition_rows:
        await execute_many(_insert_sql("member_condition", _CONDITION_COLS), condition_rows)
    consent_rows = []
    events = []
    ref = job.key[:40]
    granted_word, withdrawn_word = _("granted"), _("withdrawn")
    for p in everyone:
        for purpose, granted in p.consent_changes.items():
            consent_rows.append((p.id, purpose, granted, now, "import", actor.id, consents.TEXT_VERSION))
            verb = granted_word if granted else withdrawn_word
            events.append(
                (
                    p.id,
                    now,
                    timeline.CONSENT,
                    f"{consents.purpose_label(purpose)}: {verb}",
                    actor.id,
                    job.store_id,
                    purpose,
                )
            )
    if consent_rows:
        await execute_many(_insert_sql("consent_event", _CONSENT_COLS), consent_rows)
    created_text = _("Imported from %(file)s") % {"file": job.filename}
    for p in created:
        events.append((p.id, now, timeline.IMPORTED, created_text, actor.id, job.store_id, ref))
    changes = []
    for p in touched:
        labels = [_field_label(name) for name in p.changed]
        labels += [_("allergies")] if p.new_allergies else []
        labels += [_("conditions")] if p.new_conditions else []
        labels += [_("consents")] if p.consent_changes else []
        summary = _("Updated by import from %(file)s: %(fields)s") % {"file": job.filename, "fields": "、".join(labels)}
        events.append((p.id, now, timeline.IMPORTED, summary, actor.id, job.store_id, ref))
        changes += [(p.id, now, actor.id, name, old, new) for name, (old, new) in p.changed.items()]
    if events:
        await execute_many(_insert_sql("member_event", _EVENT_COLS), events)
    if changes:
        await execute_many(_insert_sql("member_change", _CHANGE_COLS), changes)


def _field_label(name: str) -> str:
    col = COLUMN_BY_KEY.get(name)
    return col.label if col else name


# ---------------------------------------------------------------- running a job


async def _job_context(job_key: str) -> tuple[JobContext, dict]:
    rows = await fetch(
        "SELECT j.*, s.username, s.display_name, s.role, s.store AS staff_store, st.code AS store_code,"
        " st.name AS store_name FROM import_job j JOIN staff s ON s.id = j.staff"
        " LEFT JOIN store st ON st.id = s.store WHERE j.job_key = {}",
        job_key,
    )
    if not rows:
        raise NotFound(_("No import job %(key)s.") % {"key": job_key})
    row = rows[0]
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


def _write_rejects(job_key: str, start: int, rejects: list[Reject]) -> None:
    folder = _rejects_dir(job_key)
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


def _drop_rejects_from(job_key: str, processed: int) -> None:
    """Forget reports of chunks that were written but never committed (a worker died in between)."""
    folder = _rejects_dir(job_key)
    if folder.exists():
        for path in folder.iterdir():
            if path.suffix == ".tmp" or (path.stem.isdigit() and int(path.stem) >= processed):
                path.unlink(missing_ok=True)


async def run_import(
    job_key: str, language: str | None = None, max_chunks: int | None = None, on_progress: Any = None
) -> ImportJobView:
    """Run (or resume) a job to its end; safe to call again at any time, it never doubles anything.

    `max_chunks` stops after that many chunks, as a worker dying between two chunks would (tests);
    `on_progress` is awaited after each committed chunk (the worker's heartbeat).
    """
    with use_language(language or get_settings().default_language):
        job, row = await _job_context(job_key)
        if row["status"] in ("done", "failed"):
            return await _public_view(job_key)
        source = _source(job_key, row["filename"])
        if not source.exists():
            await mark_failed(job_key, "missing_file")
            return await _public_view(job_key)
        try:
            purge_old_files()
        except OSError:
            pass
        await fetch("UPDATE import_job SET status = 'running' WHERE id = {} AND status = 'queued'", job.id)
        header = json.loads((job_dir(job_key) / "header.json").read_text(encoding="utf-8"))
        keys = map_header(header)
        if "name" not in keys:
            await mark_failed(job_key, "no_name_column")
            return await _public_view(job_key)
        processed = row["processed"]
        _drop_rejects_from(job_key, processed)
        try:
            if not row["total"]:
                await fetch("UPDATE import_job SET total = {} WHERE id = {}", count_rows(source), job.id)
            done = await _run_chunks(job, source, header, keys, processed, max_chunks, on_progress)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            if isinstance(exc, FileNotFoundError):
                await mark_failed(job_key, "missing_file")
            else:
                await mark_failed(job_key, "unreadable")
            return await _public_view(job_key)
        if done:
            await _finish(job)
        return await _public_view(job_key)


Batch = list[tuple[int, list[str]]]


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
    total = (await fetch("SELECT total FROM import_job WHERE id = {}", job.id))[0]["total"]
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
            if not await _commit_chunk(job, start, end, batch, valid, rejects):
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


async def _commit_chunk(
    job: JobContext, start: int, end: int, batch: Batch, valid: list[Row], rejects: list[Reject]
) -> bool:
    """Apply one validated chunk and record its progress in one transaction; False when another run did it."""
    async with transaction():
        result = await _apply_chunk(job, start, valid)
        if result is None:
            return False
        counts, late = result
        if late:
            cells_of = dict(batch)
            for reject in late:
                reject.cells = cells_of[reject.row_no]
        counts.rejected += len(rejects)
        # Written before the commit: a run that dies here leaves a report for an uncommitted chunk, which the
        # next run deletes (its name is past `processed`) and writes again.
        _write_rejects(job.key, start, sorted(rejects + late, key=lambda x: x.row_no))
        await fetch(
            "UPDATE import_job SET processed = {}, accepted = accepted + {}, updated = updated + {},"
            " unchanged = unchanged + {}, rejected = rejected + {}, status = 'running' WHERE id = {}",
            end,
            counts.accepted,
            counts.updated,
            counts.unchanged,
            counts.rejected,
            job.id,
        )
    return True


async def _finish(job: JobContext) -> None:
    now = datetime.now(UTC)
    rows = await fetch(
        "UPDATE import_job SET status = 'done', total = processed, finished_at = {} WHERE id = {}"
        " AND status = 'running' RETURNING processed, accepted, updated, unchanged, rejected",
        now,
        job.id,
    )
    if rows:
        r = rows[0]
        await audit.record(
            job.actor,
            IMPORT_AUDIT,
            detail=f"job={job.key} rows={r['processed']} accepted={r['accepted']} updated={r['updated']}"
            f" unchanged={r['unchanged']} rejected={r['rejected']}",
        )
    source = _source(job.key, job.filename)
    source.unlink(missing_ok=True)


async def _public_view(job_key: str) -> ImportJobView:
    rows = await fetch(_JOB_SQL + " WHERE j.job_key = {}", job_key)
    return job_view(rows[0])


# ---------------------------------------------------------------- the rejected rows as a file to fix


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
    return "; ".join(f"{_field_label(f)}: {errors[f]}" for f in wanted)


def csv_line(values: list[str]) -> bytes:
    """One CSV row, UTF-8 encoded."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode("utf-8")


async def rejected_rows(job_key: str, actor: StaffUser) -> AsyncIterator[bytes]:
    """The rejected rows as CSV (UTF-8 with BOM, for Excel): the original columns plus `reason`."""
    job = await get_job(job_key, actor)
    folder = _rejects_dir(job.key)
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


# ---------------------------------------------------------------- the template file


def template_headers() -> list[str]:
    """The header row of the template, in the current language."""
    return [c.label for c in COLUMNS]


def template_csv() -> bytes:
    """An empty CSV template (UTF-8 with BOM so Excel shows Chinese correctly)."""
    return codecs.BOM_UTF8 + csv_line(template_headers())


def template_xlsx() -> bytes:
    """A workbook: the header row (phone and ID columns formatted as text) and a sheet of accepted values."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = _("Members")
    ws.append(template_headers())
    for i, col in enumerate(COLUMNS, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True)
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = 22 if col.key in ("address", "allergies", "conditions") else 16
        if col.key in ("phone", "id_number", "birth_date"):
            for r in range(2, 1002):
                ws.cell(row=r, column=i).number_format = "@"
    ws.freeze_panes = "A2"
    help_sheet = wb.create_sheet(_("Accepted values"))
    help_sheet.append([_("Column"), _("Accepted values")])
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for key, text in column_help():
        help_sheet.append([COLUMN_BY_KEY[key].label, text])
    help_sheet.append([])
    help_sheet.append([_("Allergy class code"), _("Name")])
    for cls in allergen_classes().values():
        help_sheet.append([cls.code, cls.label])
    help_sheet.append([])
    help_sheet.append([_("Condition code"), _("Name")])
    for code, (zh, en) in condition_vocabulary().items():
        help_sheet.append([code, pick(zh, en)])
    help_sheet.column_dimensions["A"].width = 28
    help_sheet.column_dimensions["B"].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def column_help() -> list[tuple[str, str]]:
    """What each column accepts, in the current language (the upload page and the template show it)."""
    yes_no = _("是/否 or yes/no; empty: not asked")
    return [
        ("name", _("Required.")),
        ("gender", _("男/女 or M/F; empty: not stated")),
        ("birth_date", _("YYYY-MM-DD (also 1985/3/12 or 19850312)")),
        ("phone", _("Mainland mobile number, 11 digits")),
        ("address", _("Free text")),
        ("id_number", _("18-digit resident ID number")),
        ("member_class", _("普通/会员/大客户 or regular/member/key_account")),
        ("organisation", _("The institution of a key account")),
        ("allergies", _("Allergen class codes or names separated by ; (e.g. penicillins;nsaids); 无 for none")),
        ("conditions", _("Condition codes or names separated by ; (e.g. hypertension;diabetes)")),
        ("consent_health", yes_no + " · " + _("required for allergies and conditions")),
        ("consent_sms", yes_no),
        ("consent_wechat", yes_no),
        ("consent_kiosk", yes_no),
    ]
