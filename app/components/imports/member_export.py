"""Export of members to CSV or XLSX: store-scoped for store roles, chain-wide for HQ, streamed, always audited.

Phone numbers are masked unless a store manager or HQ administrator asks for full data; a full export also
carries the resident ID number, the address, allergies and conditions, and is audited as a sensitive export.
The columns are the import template's, so a full export can be corrected and imported again.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.components import audit, consents
from app.components.core.actor import StaffUser
from app.components.core.crypto import decrypt
from app.components.core.errors import ValidationFailed
from app.components.core.roles import HQ_ROLES, Role
from app.components.imports import queries
from app.components.imports.rows import COLUMN_BY_KEY, CONSENT_COLUMNS
from app.db import fetch, marks
from app.i18n import _, pick

FORMATS = ("csv", "xlsx")
# Who may ask for phone numbers, ID numbers, addresses and health data in clear.
FULL_DATA_ROLES = frozenset({Role.STORE_MANAGER, Role.HQ_ADMIN})
EXPORT_AUDIT = "member.export"
EXPORT_FULL_AUDIT = "member.export_full"
PAGE = 2000
_MASKED_COLUMNS = ("name", "gender", "birth_date", "phone", "member_class", "organisation", *CONSENT_COLUMNS)
_FULL_COLUMNS = (
    "name",
    "gender",
    "birth_date",
    "phone",
    "address",
    "id_number",
    "member_class",
    "organisation",
    "allergies",
    "conditions",
    *CONSENT_COLUMNS,
)


@dataclass(frozen=True)
class Export:
    """One export, prepared and audited; its rows are read page by page while the response streams."""

    fmt: str
    full: bool
    store_id: int | None
    store_code: str | None
    rows: int
    max_id: int
    filename: str

    @property
    def media_type(self) -> str:
        if self.fmt == "xlsx":
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return "text/csv; charset=utf-8"


def may_export_full(actor: StaffUser) -> bool:
    """Whether the actor's role may export identifiers in clear."""
    return actor.role in FULL_DATA_ROLES


async def prepare(actor: StaffUser, fmt: str, store_code: str = "", full: bool = False) -> Export:
    """Check the request, count the rows and write the audit event (with the row count) before any row leaves."""
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise ValidationFailed({"format": _("Choose CSV or XLSX.")})
    if full and not may_export_full(actor):
        raise ValidationFailed({"full": _("Only store managers and HQ administrators may export full data.")})
    store_code = (store_code or "").strip()
    if actor.role in HQ_ROLES:
        store_id = None
        if store_code:
            store_id = await queries.store_id(store_code)
            if store_id is None:
                raise ValidationFailed({"store": _("No store with code %(code)s.") % {"code": store_code}})
    else:
        if store_code and store_code != actor.store_code:
            raise ValidationFailed({"store": _("You can export only your own store's members.")})
        store_id, store_code = actor.store_id, actor.store_code or ""
    where, args = _scope(store_id)
    stats = await fetch("SELECT COUNT(*) AS n, MAX(id) AS top FROM member m WHERE " + where, *args)
    rows, max_id = stats[0]["n"], stats[0]["top"] or 0
    action = EXPORT_FULL_AUDIT if full else EXPORT_AUDIT
    await audit.record(actor, action, detail=f"format={fmt} rows={rows} store={store_code or '*'}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    filename = f"members-{store_code or 'all'}-{stamp}.{fmt}"
    return Export(fmt, full, store_id, store_code or None, rows, max_id, filename)


def _scope(store_id: int | None) -> tuple[str, list[Any]]:
    if store_id is None:
        return "m.merged_into IS NULL", []
    return "m.merged_into IS NULL AND m.home_store = {}", [store_id]


def headers(export: Export) -> list[str]:
    """The header row in the current language: member number, store, then the import template's columns."""
    keys = _FULL_COLUMNS if export.full else _MASKED_COLUMNS
    return [pick("会员号", "Member number"), pick("门店", "Store")] + [COLUMN_BY_KEY[k].label for k in keys]


def _gender(code: str) -> str:
    return {"M": pick("男", "M"), "F": pick("女", "F")}.get(code, "")


def _member_class(code: str) -> str:
    return {
        "regular": pick("普通", "regular"),
        "member": pick("会员", "member"),
        "key_account": pick("大客户", "key_account"),
    }.get(code, code)


def _yes_no(value: Any) -> str:
    return pick("是", "yes") if value else pick("否", "no")


def _birth(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


async def pages(export: Export) -> AsyncIterator[list[list[str]]]:
    """The export's rows, a page at a time (keyset on id, so memory stays flat for any chain size)."""
    where, args = _scope(export.store_id)
    last = 0
    while last < export.max_id:
        rows = await fetch(
            "SELECT m.id, m.member_no, st.code AS store, m.name, m.gender, m.birth_date, m.phone_masked, m.phone_enc,"
            " m.address_enc, m.id_number_enc, m.member_class, m.organisation, m.consent_health,"
            " m.consent_marketing_sms, m.consent_marketing_wechat, m.consent_kiosk"
            " FROM member m LEFT JOIN store st ON st.id = m.home_store WHERE "
            + where
            + " AND m.id > {} AND m.id <= {} ORDER BY m.id LIMIT {}",
            *args,
            last,
            export.max_id,
            PAGE,
        )
        if not rows:
            return
        last = rows[-1]["id"]
        allergies: dict[int, list[str]] = {}
        conditions: dict[int, list[str]] = {}
        if export.full:
            ids = [r["id"] for r in rows]
            in_list = marks(ids)
            for a in await fetch(
                "SELECT member, allergen_class FROM allergy WHERE clinical_status = 'active' AND member IN ("
                + in_list
                + ") ORDER BY id",
                *ids,
            ):
                allergies.setdefault(a["member"], []).append(a["allergen_class"])
            for c in await fetch(
                "SELECT member, code FROM member_condition WHERE status = 'active' AND member IN ("
                + in_list
                + ") ORDER BY id",
                *ids,
            ):
                conditions.setdefault(c["member"], []).append(c["code"])
        page = []
        for r in rows:
            consent_cells = [_yes_no(r[consents.COLUMNS[p]]) for p in CONSENT_COLUMNS.values()]
            if export.full:
                page.append(
                    [
                        r["member_no"],
                        r["store"] or "",
                        r["name"],
                        _gender(r["gender"]),
                        _birth(r["birth_date"]),
                        decrypt(r["phone_enc"], "phone") or "",
                        decrypt(r["address_enc"], "address") or "",
                        decrypt(r["id_number_enc"], "id_number") or "",
                        _member_class(r["member_class"]),
                        r["organisation"] or "",
                        ";".join(dict.fromkeys(allergies.get(r["id"], []))),
                        ";".join(dict.fromkeys(conditions.get(r["id"], []))),
                        *consent_cells,
                    ]
                )
            else:
                page.append(
                    [
                        r["member_no"],
                        r["store"] or "",
                        r["name"],
                        _gender(r["gender"]),
                        _birth(r["birth_date"]),
                        r["phone_masked"] or "",
                        _member_class(r["member_class"]),
                        r["organisation"] or "",
                        *consent_cells,
                    ]
                )
        yield page


async def csv_stream(export: Export) -> AsyncIterator[bytes]:
    """The export as CSV bytes (UTF-8 with BOM for Excel), one page per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers(export))
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    async for page in pages(export):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(page)
        yield buffer.getvalue().encode("utf-8")


def _append_all(sheet: Any, rows: list[list[str]]) -> None:
    for row in rows:
        sheet.append(row)


async def xlsx_stream(export: Export) -> AsyncIterator[bytes]:
    """The export as an XLSX workbook: written row by row to a temporary file (openpyxl write-only), then streamed."""
    from openpyxl import Workbook

    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(_("Members"))
        sheet.append(headers(export))
        async for page in pages(export):
            # openpyxl is slow per row: off the event loop, so other requests of this process keep flowing.
            await asyncio.to_thread(_append_all, sheet, page)
        await asyncio.to_thread(workbook.save, name)
        fh = await asyncio.to_thread(open, name, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, 256 * 1024):
                yield chunk
        finally:
            fh.close()
    finally:
        os.unlink(name)


def stream(export: Export) -> AsyncIterator[bytes]:
    """The bytes of the export in its format."""
    return xlsx_stream(export) if export.fmt == "xlsx" else csv_stream(export)
