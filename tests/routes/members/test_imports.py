"""Import pages (upload, progress polling, result, rejected rows, template), exports and the job API."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from app.components import members
from app.components.audit import log as audit
from app.components.imports import member_export as exports
from app.components.imports import member_import as imports
from app.db import fetch
from tests.conftest import actor, api_headers, login

FILE = (
    "姓名,性别,出生日期,手机号,过敏类别,健康数据授权\n"
    "欧阳一,女,1966-06-06,13700000011,nsaids,是\n"
    "欧阳二,男,1967-13-01,13700000012,,\n"
    "欧阳三,男,,1380000,,\n"
)


async def _upload(client, token: str, content: bytes = FILE.encode(), name: str = "customers.csv", **fields):
    return await client.post(
        "/members/import",
        data={"_csrf_token": token, **fields},
        files={"file": (name, content, "text/csv")},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )


def _key(response) -> str:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/members/import/([0-9a-f]{32})", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


async def test_upload_shows_progress_that_polls_until_done_then_the_result(client) -> None:
    token = await login(client, "pharmacist")
    page = await client.get("/members/import")
    assert page.status_code == 200 and 'data-testid="import-form"' in page.text
    key = _key(await _upload(client, token))

    job_page = await client.get(f"/members/import/{key}")
    assert job_page.status_code == 200
    assert 'hx-trigger="every 1s"' in job_page.text and 'data-status="queued"' in job_page.text

    await imports.run_import(key, language="en")
    partial = await client.get(f"/members/import/{key}", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="import-progress"'), "htmx gets only the progress block"
    assert "hx-trigger" not in partial.text, "a finished job stops the polling"
    assert 'data-status="done"' in partial.text
    counts = {k: int(v) for k, v in re.findall(r'data-testid="count-(\w+)">(\d+)<', partial.text)}
    assert counts == {"accepted": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    assert f'href="/members/import/{key}/rejected.csv"' in partial.text

    await client.post("/language", data={"_csrf_token": token, "language": "en"}, follow_redirects=False)
    report = await client.get(f"/members/import/{key}/rejected.csv")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [r["姓名"] for r in rows] == ["欧阳二", "欧阳三"]
    assert "YYYY-MM-DD" in rows[0]["reason"] and "mobile" in rows[1]["reason"]
    assert list(rows[0]) == ["姓名", "性别", "出生日期", "手机号", "过敏类别", "健康数据授权", "reason"]


async def test_the_same_file_twice_while_it_runs_goes_to_the_same_job(client) -> None:
    token = await login(client, "pharmacist")
    first = _key(await _upload(client, token))
    second = _key(await _upload(client, token))
    assert first == second
    assert (await fetch("SELECT COUNT(*) AS n FROM import_job"))[0]["n"] == 1


async def test_upload_errors_come_back_on_the_form(client) -> None:
    token = await login(client, "pharmacist")
    bad = await _upload(client, token, name="customers.pdf")
    assert bad.status_code == 422 and 'data-testid="error-file"' in bad.text
    headerless = await _upload(client, token, content=b"13700000011,x\n")
    assert headerless.status_code == 422 and 'data-testid="error-file"' in headerless.text
    # What a browser sends when no file was chosen: a file part without a file name.
    missing = await client.post(
        "/members/import",
        data={"_csrf_token": token},
        files={"file": ("", b"", "application/octet-stream")},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert missing.status_code == 422 and 'data-testid="error-file"' in missing.text


async def test_hq_picks_the_store_and_store_staff_see_only_their_store(client) -> None:
    token = await login(client, "admin")
    page = await client.get("/members/import")
    assert 'data-testid="import-store"' in page.text
    no_store = await _upload(client, token)
    assert no_store.status_code == 422 and 'data-testid="error-store"' in no_store.text
    key = _key(await _upload(client, token, store="SH002"))
    assert (await fetch("SELECT st.code FROM import_job j JOIN store st ON st.id = j.store"))[0]["code"] == "SH002"
    await imports.run_import(key)
    assert (await fetch("SELECT st.code FROM member m JOIN store st ON st.id = m.home_store"))[0]["code"] == "SH002"

    await login(client, "pharmacist")
    assert (await client.get(f"/members/import/{key}")).status_code == 404, "SH001 staff do not see SH002's job"
    assert (await client.get(f"/members/import/{key}/rejected.csv")).status_code == 404
    await login(client, "pharmacist2")
    assert (await client.get(f"/members/import/{key}")).status_code == 200


async def test_the_template_downloads_with_the_right_headers(client) -> None:
    await login(client, "pharmacist")
    await client.post("/language", data={"language": "en"}, headers={"x-csrftoken": client.cookies["ys_csrf"]})
    plain = await client.get("/members/import/template?format=csv")
    assert plain.status_code == 200 and "attachment" in plain.headers["content-disposition"]
    header = next(csv.reader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert imports.map_header(header) == [c.key for c in imports.COLUMNS]
    book = await client.get("/members/import/template?format=xlsx")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content), read_only=True).worksheets[0]
    first = [c for c in next(sheet.iter_rows(values_only=True))]
    assert imports.map_header(first) == [c.key for c in imports.COLUMNS]


async def _members_in_two_stores() -> tuple[str, str]:
    a = await members.register(members.NewMember(name="店一会员", phone="13811112222"), await actor("pharmacist"))
    b = await members.register(members.NewMember(name="店二会员", phone="13833334444"), await actor("pharmacist2"))
    return a.member_no, b.member_no


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_export_is_store_scoped_masked_and_audited(client) -> None:
    mine, _theirs = await _members_in_two_stores()
    await login(client, "manager")
    assert (await client.get("/members/export")).status_code == 200
    response = await client.get("/members/export/download?format=csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = _csv_rows(response)
    assert [r[0] for r in rows[1:]] == [mine], "a store manager exports their own store only"
    assert "138****2222" in rows[1] and "13811112222" not in response.text
    events = await fetch("SELECT action, detail, username FROM audit_event WHERE action LIKE 'member.export%'")
    assert [(e["action"], e["username"]) for e in events] == [(exports.EXPORT_AUDIT, "manager")]
    assert "rows=1" in events[0]["detail"] and "store=SH001" in events[0]["detail"]

    other = await client.get("/members/export/download?format=csv&store=SH002")
    assert other.status_code == 422


async def test_full_export_decrypts_for_managers_only_and_is_a_sensitive_audit_event(client) -> None:
    await _members_in_two_stores()
    await login(client, "manager")
    full = await client.get("/members/export/download?format=csv&full=1")
    assert full.status_code == 200 and "13811112222" in full.text
    assert await audit.count(exports.EXPORT_FULL_AUDIT) == 1

    await login(client, "analyst")
    refused = await client.get("/members/export/download?format=csv&full=1")
    assert refused.status_code == 422 and 'data-testid="error-full"' in refused.text
    assert await audit.count(exports.EXPORT_FULL_AUDIT) == 1


async def test_hq_exports_the_chain_as_xlsx(client) -> None:
    mine, theirs = await _members_in_two_stores()
    await login(client, "admin")
    response = await client.get("/members/export/download?format=xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    numbers = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert numbers == [mine, theirs]
    one = await client.get("/members/export/download?format=csv&store=SH002")
    assert [r[0] for r in _csv_rows(one)[1:]] == [theirs]
    assert await audit.count(exports.EXPORT_AUDIT) == 2


async def test_a_full_export_imports_again_without_changes(client) -> None:
    await _members_in_two_stores()
    await login(client, "manager")
    full = await client.get("/members/export/download?format=csv&full=1")
    job = await imports.submit(await actor("manager"), "export.csv", _one(full.content))
    done = await imports.run_import(job.job.key)
    assert (done.accepted, done.updated, done.unchanged, done.rejected) == (0, 0, 1, 0)


async def _one(data: bytes):
    yield data


async def test_api_import_returns_a_job_to_poll(client) -> None:
    headers = await api_headers("pharmacist")
    created = await client.post(
        "/api/v1/members/import", files={"file": ("erp.csv", FILE.encode(), "text/csv")}, headers=headers
    )
    assert created.status_code == 202, created.text
    body = created.json()
    job_id = body["job_id"]
    assert body["status"] == "queued" and created.headers["location"] == f"/api/v1/jobs/{job_id}"

    await imports.run_import(job_id, language="en")
    status = await client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert status.status_code == 200
    body = status.json()
    assert {k: body[k] for k in ("status", "processed", "accepted", "updated", "unchanged", "rejected")} == {
        "status": "done",
        "processed": 3,
        "accepted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    assert body["report_url"] == f"/api/v1/jobs/{job_id}/rejected"
    report = await client.get(body["report_url"], headers=headers)
    assert report.status_code == 200 and len(_csv_rows(report)) == 3

    other = await client.get(f"/api/v1/jobs/{job_id}", headers=await api_headers("pharmacist2"))
    assert other.status_code == 404 and other.json()["errors"][0]["message"]
    assert (await client.get("/api/v1/jobs/nonsense", headers=headers)).status_code == 404


async def test_api_import_errors(client) -> None:
    headers = await api_headers("admin")
    no_store = await client.post(
        "/api/v1/members/import", files={"file": ("erp.csv", FILE.encode(), "text/csv")}, headers=headers
    )
    assert no_store.status_code == 422 and no_store.json()["errors"][0]["field"] == "store"
    no_file = await client.post("/api/v1/members/import", files={"store": (None, "SH001")}, headers=headers)
    assert no_file.status_code == 422 and no_file.json()["errors"][0]["field"] == "file"
    ok = await client.post(
        "/api/v1/members/import",
        data={"store": "SH001"},
        files={"file": ("erp.csv", FILE.encode(), "text/csv")},
        headers=headers,
    )
    assert ok.status_code == 202
