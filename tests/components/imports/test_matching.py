"""Matching rows to members: a namesake is another person; an import never renames anyone."""

from __future__ import annotations

from app.components import members
from app.components.imports import member_import as imports
from app.db import fetch
from app.i18n import use_language
from tests.components.imports.files import (
    rejected_report,
    upload,
)
from tests.conftest import actor


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
        first = await imports.run_import((await upload(text)).key, language="en")
        assert (first.accepted, first.updated, first.unchanged, first.rejected) == (1, 1, 0, 1)
        rejected = await rejected_report(first.key)
    assert wang.member_no in rejected[0]["reason"] and "resident ID" in rejected[0]["reason"]
    phones = [r["phone_masked"] for r in await fetch("SELECT phone_masked FROM member ORDER BY id")]
    assert phones == ["138****0000", "139****0000"], "the member's phone is not overwritten by a namesake's"
    again = await imports.run_import((await upload(text)).key, language="en")
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 1)


async def test_a_resident_id_under_another_name_is_rejected_not_renamed() -> None:
    text = (
        "姓名,手机号,身份证号\n"
        "邵颖,13700001001,310101198001150010\n"
        "袁融苑,13700001002,310101198001150010\n"  # the same ID under another name, in the same file
    )
    with use_language("en"):
        first = await imports.run_import((await upload(text)).key, language="en")
        assert (first.accepted, first.rejected) == (1, 1)
        assert "row 2 of this file" in (await rejected_report(first.key))[0]["reason"]
        again = await imports.run_import((await upload(text)).key, language="en")
        assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 1, 1)
        member_no = (await fetch("SELECT member_no FROM member"))[0]["member_no"]
        assert f"member {member_no}" in (await rejected_report(again.key))[0]["reason"]
    assert [r["name"] for r in await fetch("SELECT name FROM member")] == ["邵颖"]
