"""The member import job: a messy file gives the right counts; re-runs and resumes never double; one job per file."""

from __future__ import annotations

import pytest

from app.components.core.crypto import decrypt
from app.components.imports import jobs
from app.components.imports import member_import as imports
from app.db import fetch
from app.i18n import use_language
from tests.components.imports.files import (
    MESSY,
    big_file,
    pieces,
    register_two,
    rejected_report,
    table_counts,
    upload,
)
from tests.conftest import actor


async def test_a_messy_file_gives_the_right_counts_and_reasons() -> None:
    await register_two()
    job = await upload(MESSY)
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
        rejected = await rejected_report(job.key)
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
    await register_two()
    first = await imports.run_import((await upload(MESSY)).key, language="en")
    before = await table_counts()
    again = await imports.run_import((await upload(MESSY)).key, language="en")
    assert again.key != first.key, "a finished import does not block importing the file again"
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 6, 6)
    assert await table_counts() == before


async def test_a_job_that_stops_between_chunks_resumes_without_doubling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 7)
    job = await upload(big_file(40), name="resumed.csv")
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
    assert len(await rejected_report(job.key)) == 3
    # Running a finished job again is harmless.
    assert (await imports.run_import(job.key)).accepted == resumed.accepted


async def test_importing_part_of_a_file_then_all_of_it_does_not_double() -> None:
    text = big_file(30)
    lines = text.splitlines(keepends=True)
    head = "".join(lines[: len(lines) // 2])
    part = await imports.run_import((await upload(head, name="part.csv")).key)
    whole = await imports.run_import((await upload(text, name="whole.csv")).key)
    assert whole.unchanged == part.accepted
    assert whole.accepted == 30 - part.accepted
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 30


async def test_same_file_twice_while_the_first_runs_is_the_same_job() -> None:
    first = await upload(MESSY)
    again = await imports.submit(await actor(), "customers.csv", pieces(MESSY.encode()))
    assert again.existing and again.job.key == first.key
    other_user = await imports.submit(await actor("clerk"), "customers.csv", pieces(MESSY.encode()))
    assert not other_user.existing
    await imports.run_import(first.key)
    after = await imports.submit(await actor(), "customers.csv", pieces(MESSY.encode()))
    assert not after.existing and after.job.key != first.key


async def test_upload_checks(tmp_data_dir) -> None:
    from app.components.core.errors import ValidationFailed

    with use_language("en"):
        with pytest.raises(ValidationFailed) as exc:
            await upload(MESSY, name="customers.txt")
        assert ".xlsx" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await upload("电话,地址\n13800000000,x\n")
        assert "name column" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await upload("")
        assert "empty" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await imports.submit(await actor(), "broken.xlsx", pieces(b"PK\x03\x04 not really a workbook"))
        assert "could not be read" in exc.value.errors["file"]
        with pytest.raises(ValidationFailed) as exc:
            await imports.submit(await actor("admin"), "a.csv", pieces(MESSY.encode()), "")
        assert "store" in exc.value.errors
    assert not list((tmp_data_dir / "imports").glob("upload-*")), "rejected uploads leave no file behind"
