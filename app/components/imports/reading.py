"""Reading uploaded .csv/.xlsx files with bounded memory: the size limit, header mapping and the rows as text."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from app.components.core.errors import ValidationFailed
from app.i18n import _, pick

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
EXTENSIONS = (".csv", ".xlsx")
# Workbooks up to this size are read whole by calamine (fast); larger ones stream through openpyxl.
CALAMINE_MAX_BYTES = 6 * 1024 * 1024
# Rows of a file as read: (row number, cells).
Batch = list[tuple[int, list[str]]]


def upload_name(filename: str | None) -> str:
    """The uploaded file's own name (no folders, at most 200 characters); refused unless it is a .csv or .xlsx."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()[:200]
    if not name:
        raise ValidationFailed({"file": _("Choose a .xlsx or .csv file to upload.")})
    if not name.lower().endswith(EXTENSIONS):
        raise ValidationFailed({"file": _("Only .xlsx and .csv files can be imported.")})
    return name


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


def header_keys(cells: list[str], columns: tuple[Column, ...]) -> list[str | None]:
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


def csv_line(values: list[str]) -> bytes:
    """One CSV row, UTF-8 encoded."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode("utf-8")


async def save_upload(chunks: AsyncIterator[bytes], path: Path) -> str:
    """Write an upload to `path` as it arrives, refusing one over MAX_UPLOAD_BYTES or an empty one; its SHA-256."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as fh:
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
    return digest.hexdigest()
