"""Reading files: workbooks through either reader with typed cells, and a GBK CSV as Excel saves it."""

from __future__ import annotations

import io

import pytest

from app.components.core.crypto import decrypt
from app.components.imports import member_import as imports
from app.components.imports import reading
from app.db import fetch
from tests.components.imports.files import (
    pieces,
)
from tests.conftest import actor


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
async def test_an_xlsx_file_with_english_headers_and_typed_cells(monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    from datetime import datetime

    if reader == "openpyxl":
        monkeypatch.setattr(reading, "CALAMINE_MAX_BYTES", 0)  # as for a workbook too big to hold in memory

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Name", "Gender", "Birth date", "Mobile phone", "Resident ID number", "Member class", "Organisation"])
    ws.append(["黄磊", "male", datetime(1971, 12, 6), 13500001234, None, "key account", "上海某某公司"])
    ws.append([None, None, None, None, None, None, None])
    ws.append(["林芳", "F", "1990-03-07", "13600001234", "110105199003070025", "regular", None])
    ws.append(["黄磊", "M", "1971-12-06", 13500001234.0, None, None, None])
    buffer = io.BytesIO()
    wb.save(buffer)
    submitted = await imports.submit(await actor(), "客户.xlsx", pieces(buffer.getvalue()))
    done = await imports.run_import(submitted.job.key, language="en")
    assert (done.processed, done.accepted, done.unchanged, done.rejected) == (3, 2, 1, 0)
    rows = await fetch("SELECT name, member_class, organisation, id_number_enc, phone_masked FROM member ORDER BY name")
    by_name = {r["name"]: r for r in rows}
    assert by_name["黄磊"]["member_class"] == "key_account" and by_name["黄磊"]["phone_masked"] == "135****1234"
    assert decrypt(by_name["林芳"]["id_number_enc"], "id_number") == "110105199003070025"


async def test_a_gbk_csv_from_excel_is_read() -> None:
    text = "姓名,手机号\n高明,13700009999\n"
    submitted = await imports.submit(await actor(), "gbk.csv", pieces(text.encode("gb18030")))
    done = await imports.run_import(submitted.job.key)
    assert done.accepted == 1
    assert (await fetch("SELECT name FROM member"))[0]["name"] == "高明"
