"""Bulk import: a messy file gives the right counts and reasons; re-runs, resumes and crashes never double."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest

from app.components import consents
from app.components.core.crypto import decrypt
from app.components.imports import jobs, reading, rejects, writing
from app.components.imports import member_import as imports
from app.components.imports import rows as member_rows
from app.components.members import profile as members
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor

HEADER = "姓名,性别,出生日期,手机号,地址,身份证号,会员类别,过敏类别,慢病,健康数据授权,短信营销授权\n"
MESSY = (
    HEADER
    + "王小明,男,1980-01-15,13700001111,,,,,,,是\n"  # 2 new
    + "\n"  # 3 blank line
    + "赵六,女,1990-02-30,13700002222,,,,,,,\n"  # 4 wrong date
    + "钱七,,,12345,,,,,,,\n"  # 5 bad phone
    + "孙八,男,1975/3/8,13600002222,,,,penicillins;nsaids,,是,\n"  # 6 new, coded allergies
    + "周九,,,13500003333,,,,penicillins;kryptonite,,是,\n"  # 7 unknown allergy class
    + "王小明,男,1980-01-15,13700001111,,,,,,,是\n"  # 8 repeats row 2
    + "张伟,M,1962-05-14,138 1234 1234,上海市静安区南京西路1号,,,,,,\n"  # 9 existing member, new address
    + "李娜,F,1985-11-02,13912345678,,,,,,,\n"  # 10 existing member, nothing new
    + "吴十,,,13300004444,,,,青霉素类,,,\n"  # 11 allergy without health-data consent
    + ",男,1970-01-01,13300005555,,,,,,,\n"  # 12 no name
    + "陈一,女,1958-07-01,13300006666,,,大客户,,hypertension;糖尿病,是,\n"  # 13 key account, no organisation
    + "郑二,女,2010-06-01,13700001111,,,,,,,\n"  # 14 shares row 2's phone: family, a new member
    + " , , ,,,,,,,,\n"  # 15 blank with spaces
)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 7):
        yield data[i : i + 7]


async def _submit(text: str, username: str = "pharmacist", name: str = "customers.csv", store: str = ""):
    submitted = await imports.submit(await actor(username), name, _chunks(text.encode("utf-8")), store)
    return submitted.job


async def _existing() -> None:
    pharmacist = await actor()
    await members.register(
        members.NewMember(name="张伟", gender="M", birth_date="1962-05-14", phone="13812341234"), pharmacist
    )
    await members.register(
        members.NewMember(name="李娜", gender="F", birth_date="1985-11-02", phone="13912345678"), pharmacist
    )


async def _counts(job_key: str) -> dict:
    rows = await fetch(
        "SELECT status, processed, accepted, updated, unchanged, rejected FROM import_job WHERE job_key = {}", job_key
    )
    return dict(rows[0])


async def _table_counts() -> dict[str, int]:
    found = {}
    for table in ("member", "allergy", "member_condition", "consent_event", "member_event", "member_change"):
        found[table] = (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
    return found


async def _rejected(job_key: str, username: str = "pharmacist") -> list[dict]:
    stream = await rejects.rejected_rows(job_key, await actor(username))
    data = b"".join([chunk async for chunk in stream]).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(data)))


async def test_a_messy_file_gives_the_right_counts_and_reasons() -> None:
    await _existing()
    job = await _submit(MESSY)
    assert job.status == "queued" and job.store_code == "SH001"
    done = await imports.run_import(job.key, language="en")
    assert (done.status, done.processed) == ("done", 12)
    assert (done.accepted, done.updated, done.unchanged, done.rejected) == (3, 1, 2, 6)

    names = [r["name"] for r in await fetch("SELECT name FROM member ORDER BY id")]
    assert names == ["张伟", "李娜", "王小明", "孙八", "郑二"]
    sun = (await fetch("SELECT id, allergy_status, consent_health FROM member WHERE name = '孙八'"))[0]
    assert sun["allergy_status"] == "has_allergies" and sun["consent_health"]
    classes = {
        r["allergen_class"] for r in await fetch("SELECT allergen_class FROM allergy WHERE member = {}", sun["id"])
    }
    assert classes == {"penicillins", "nsaids"}
    zhang = (await fetch("SELECT id, address_enc FROM member WHERE name = '张伟'"))[0]
    assert decrypt(zhang["address_enc"], "address") == "上海市静安区南京西路1号"
    change = await fetch("SELECT field, old_value, new_value FROM member_change WHERE member = {}", zhang["id"])
    assert [(c["field"], c["old_value"], c["new_value"]) for c in change] == [("address", "", "")]
    wang = (await fetch("SELECT id, consent_marketing_sms, home_store FROM member WHERE name = '王小明'"))[0]
    assert wang["consent_marketing_sms"]
    kinds = [r["kind"] for r in await fetch("SELECT kind FROM member_event WHERE member = {} ORDER BY id", wang["id"])]
    assert kinds == ["consent", "imported"]

    with use_language("en"):
        rejected = await _rejected(job.key)
    assert [r["姓名"] for r in rejected] == ["赵六", "钱七", "周九", "吴十", "", "陈一"]
    reasons = {r["姓名"] or "(blank)": r["reason"] for r in rejected}
    assert "Birth date" in reasons["赵六"] and "YYYY-MM-DD" in reasons["赵六"]
    assert "mobile number" in reasons["钱七"]
    assert "kryptonite" in reasons["周九"] and "penicillins" not in reasons["周九"]
    assert "consent" in reasons["吴十"]
    assert "name" in reasons["(blank)"]
    assert "institution" in reasons["陈一"]
    assert rejected[1]["手机号"] == "12345", "the original cells come back to be fixed"


async def test_rerunning_the_same_file_changes_nothing() -> None:
    await _existing()
    first = await imports.run_import((await _submit(MESSY)).key, language="en")
    before = await _table_counts()
    again = await imports.run_import((await _submit(MESSY)).key, language="en")
    assert again.key != first.key, "a finished import does not block importing the file again"
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 6, 6)
    assert await _table_counts() == before


async def test_a_fixed_rejected_file_imports_the_rest() -> None:
    job = await imports.run_import((await _submit(MESSY)).key, language="en")
    with use_language("en"):
        rejected = await _rejected(job.key)
    fixed = io.StringIO()
    writer = csv.DictWriter(fixed, fieldnames=list(rejected[0]))
    writer.writeheader()
    for row in rejected:
        if row["姓名"] == "赵六":
            row["出生日期"] = "1990-02-28"
        if row["姓名"] == "陈一":
            row["会员类别"] = "会员"
        writer.writerow(row)
    second = await imports.run_import((await _submit(fixed.getvalue(), name="fixed.csv")).key, language="en")
    assert (second.accepted, second.rejected) == (2, 4), "the extra reason column is ignored"
    conditions = await fetch(
        "SELECT c.code FROM member_condition c JOIN member m ON m.id = c.member WHERE m.name = '陈一' ORDER BY c.code"
    )
    assert [c["code"] for c in conditions] == ["diabetes", "hypertension"]


def _big_file(rows: int) -> str:
    lines = [HEADER.rstrip("\n")]
    for i in range(rows):
        phone = f"137{i:08d}"
        allergy = "penicillins" if i % 3 == 0 else ""
        lines.append(f"会员{i},{'男' if i % 2 else '女'},1970-01-{1 + i % 28:02d},{phone},,,,{allergy},,是,")
        if i % 10 == 9:
            lines.append("")
        if i % 11 == 10:
            lines.append(f"坏号{i},,,1{i},,,,,,,")
    return "\n".join(lines) + "\n"


async def test_a_job_that_stops_between_chunks_resumes_without_doubling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 7)
    job = await _submit(_big_file(40), name="resumed.csv")
    partial = await imports.run_import(job.key, max_chunks=2)
    assert partial.status == "running" and partial.processed == 14
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == partial.accepted
    # A worker that died after writing a chunk's report but before its commit leaves a stale report behind.
    stale = jobs.job_dir(job.key) / "rejects" / f"{14:09d}.jsonl"
    stale.write_text('[99, "health_consent", [], ["幽灵"]]\n', encoding="utf-8")
    resumed = await imports.run_import(job.key)
    assert resumed.status == "done"
    assert (resumed.accepted, resumed.updated, resumed.unchanged, resumed.rejected) == (40, 0, 0, 3)
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 40
    assert (await fetch("SELECT COUNT(*) AS n FROM allergy"))[0]["n"] == 14
    assert len(await _rejected(job.key)) == 3
    # Running a finished job again is harmless.
    assert (await imports.run_import(job.key)).accepted == resumed.accepted


async def test_a_crash_inside_a_chunk_rolls_the_chunk_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 7)
    real_write = writing._write
    calls = {"n": 0}

    async def dies_in_third_chunk(job, created, touched):
        calls["n"] += 1
        await real_write(job, created, touched)
        if calls["n"] == 3:
            raise RuntimeError("the worker died mid-chunk")

    monkeypatch.setattr(writing, "_write", dies_in_third_chunk)
    job = await _submit(_big_file(40))
    with pytest.raises(RuntimeError):
        await imports.run_import(job.key)
    state = await _counts(job.key)
    assert state["status"] == "running" and state["processed"] == 14
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == state["accepted"]
    done = await imports.run_import(job.key)
    assert (done.status, done.accepted, done.rejected) == ("done", 40, 3)
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 40
    assert len(await _rejected(job.key)) == 3


async def test_importing_part_of_a_file_then_all_of_it_does_not_double() -> None:
    text = _big_file(30)
    lines = text.splitlines(keepends=True)
    head = "".join(lines[: len(lines) // 2])
    part = await imports.run_import((await _submit(head, name="part.csv")).key)
    whole = await imports.run_import((await _submit(text, name="whole.csv")).key)
    assert whole.unchanged == part.accepted
    assert whole.accepted == 30 - part.accepted
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 30


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
    submitted = await imports.submit(await actor(), "客户.xlsx", _chunks(buffer.getvalue()))
    done = await imports.run_import(submitted.job.key, language="en")
    assert (done.processed, done.accepted, done.unchanged, done.rejected) == (3, 2, 1, 0)
    rows = await fetch("SELECT name, member_class, organisation, id_number_enc, phone_masked FROM member ORDER BY name")
    by_name = {r["name"]: r for r in rows}
    assert by_name["黄磊"]["member_class"] == "key_account" and by_name["黄磊"]["phone_masked"] == "135****1234"
    assert decrypt(by_name["林芳"]["id_number_enc"], "id_number") == "110105199003070025"


async def test_same_file_twice_while_the_first_runs_is_the_same_job() -> None:
    first = await _submit(MESSY)
    again = await imports.submit(await actor(), "customers.csv", _chunks(MESSY.encode()))
    assert again.existing and again.job.key == first.key
    other_user = await imports.submit(await actor("clerk"), "customers.csv", _chunks(MESSY.encode()))
    assert not other_user.existing
    await imports.run_import(first.key)
    after = await imports.submit(await actor(), "customers.csv", _chunks(MESSY.encode()))
    assert not after.existing and after.job.key != first.key


async def test_upload_checks(tmp_data_dir) -> None:
    from app.components.core.errors import ValidationFailed

    with use_language("en"):
        with pytest.raises(ValidationFailed) as exc:
            await _submit(MESSY, name="customers.txt")
        assert ".xlsx" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await _submit("电话,地址\n13800000000,x\n")
        assert "name column" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await _submit("")
        assert "empty" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await imports.submit(await actor(), "broken.xlsx", _chunks(b"PK\x03\x04 not really a workbook"))
        assert "could not be read" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await imports.submit(await actor("admin"), "a.csv", _chunks(MESSY.encode()), "")
        assert "store" in exc.value.errors
    assert not list((tmp_data_dir / "imports").glob("upload-*")), "rejected uploads leave no file behind"


async def test_a_gbk_csv_from_excel_is_read() -> None:
    text = "姓名,手机号\n高明,13700009999\n"
    submitted = await imports.submit(await actor(), "gbk.csv", _chunks(text.encode("gb18030")))
    done = await imports.run_import(submitted.job.key)
    assert done.accepted == 1
    assert (await fetch("SELECT name FROM member"))[0]["name"] == "高明"


def test_headers_in_either_language_map_to_columns() -> None:
    keys = member_rows.map_header(
        ["姓名", "Mobile phone", "出生日期(YYYY-MM-DD)", "备注", "name", "Consent: health data"]
    )
    assert keys == ["name", "phone", "birth_date", None, None, "consent_health"]


async def test_same_name_and_birth_date_with_another_phone_is_another_person() -> None:
    pharmacist = await actor()
    wang = await members.register(
        members.NewMember(name="王芳", birth_date="1980-01-01", phone="13811110000", id_number="310101198001010018"),
        pharmacist,
    )
    text = (
        "姓名,出生日期,手机号,身份证号,地址\n"
        "王芳,1980-01-01,13922220000,,\n"  # same name and birthday, another phone: a namesake
        "王芳,1980-01-01,,,上海市黄浦区1号\n"  # no phone to contradict: the member, with an address
        "王芳,,13811110000,310101198001150010,\n"  # same phone and name, another resident ID: a person decides
    )
    with use_language("en"):
        first = await imports.run_import((await _submit(text)).key, language="en")
        assert (first.accepted, first.updated, first.unchanged, first.rejected) == (1, 1, 0, 1)
        rejected = await _rejected(first.key)
    assert wang.member_no in rejected[0]["reason"] and "resident ID" in rejected[0]["reason"]
    phones = [r["phone_masked"] for r in await fetch("SELECT phone_masked FROM member ORDER BY id")]
    assert phones == ["138****0000", "139****0000"], "the member's phone is not overwritten by a namesake's"
    again = await imports.run_import((await _submit(text)).key, language="en")
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 1)


async def test_a_resident_id_under_another_name_is_rejected_not_renamed() -> None:
    text = (
        "姓名,手机号,身份证号\n"
        "邵颖,13700001001,310101198001150010\n"
        "袁融苑,13700001002,310101198001150010\n"  # the same ID under another name, in the same file
    )
    with use_language("en"):
        first = await imports.run_import((await _submit(text)).key, language="en")
        assert (first.accepted, first.rejected) == (1, 1)
        assert "row 2 of this file" in (await _rejected(first.key))[0]["reason"]
        again = await imports.run_import((await _submit(text)).key, language="en")
        assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 1, 1)
        member_no = (await fetch("SELECT member_no FROM member"))[0]["member_no"]
        assert f"member {member_no}" in (await _rejected(again.key))[0]["reason"]
    assert [r["name"] for r in await fetch("SELECT name FROM member")] == ["邵颖"]


async def test_old_import_files_are_purged_and_their_report_says_so(tmp_data_dir) -> None:
    import os
    import time

    from app.components.core.errors import NotFound

    job = await imports.run_import((await _submit(MESSY)).key)
    folder = jobs.job_dir(job.key)
    old = time.time() - (jobs.RETENTION_DAYS + 1) * 86400
    os.utime(folder, (old, old))
    assert jobs.purge_old_files() == 1 and not folder.exists()
    with use_language("en"), pytest.raises(NotFound) as exc:
        await rejects.rejected_rows(job.key, await actor())
    assert "deleted" in exc.value.message


def test_the_bulk_writes_name_the_consent_columns_in_the_order_of_the_purposes() -> None:
    # The member insert and update are constant SQL; the values follow consents.PURPOSES.
    assert writing.MEMBER_CONSENT_COLUMNS == tuple(consents.COLUMNS[p] for p in consents.PURPOSES)
    for sql in (writing._INSERT_MEMBER, writing._UPDATE_MEMBER):
        positions = [sql.index(column) for column in writing.MEMBER_CONSENT_COLUMNS]
        assert positions == sorted(positions)
