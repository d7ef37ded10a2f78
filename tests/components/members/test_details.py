"""Profile details: edits with one history row per field, verification, audited views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor

# ---------------------------------------------------------------- edits with history, verification


async def test_edit_writes_one_history_row_per_changed_field(staff_ids) -> None:
    pharmacist = await actor()
    view = await members.register(
        members.NewMember(name="褚五", phone="13844445555", birth_date="1980-05-01", address="旧地址 1 号"), pharmacist
    )
    changed = await members.update_member(
        view.member_no,
        {
            "name": "褚五",  # unchanged: no row
            "gender": "F",
            "phone": "13955556666",
            "address": "新地址 2 号",
            "responsible_pharmacist": str(staff_ids["pharmacist"]),
        },
        pharmacist,
    )
    assert [(c.field, c.old, c.new) for c in changed] == [
        ("gender", "U", "F"),
        ("phone", "", "changed"),
        ("address", "", "changed"),
        ("responsible_pharmacist", "", str(staff_ids["pharmacist"])),
    ]
    rows = await fetch(
        "SELECT field, old_value, new_value, staff FROM member_change WHERE member = {} ORDER BY id", view.id
    )
    assert len(rows) == 4 and {r["staff"] for r in rows} == {staff_ids["pharmacist"]}
    stored = " ".join(str(v) for r in rows for v in r.values())
    assert "13955556666" not in stored and "13844445555" not in stored and "地址" not in stored
    found = await members.find_by_code("13955556666", pharmacist)
    assert [m.member_no for m in found] == [view.member_no]
    assert await members.find_by_code("13844445555", pharmacist) == []
    with use_language("en"):
        history = await members.change_history(view.member_no)
    assert [(h.label, h.old, h.new) for h in history][::-1] == [
        ("Gender", "not stated", "female"),
        ("Mobile phone", "", "changed"),
        ("Address", "", "changed"),
        ("Responsible pharmacist", "—", "王药师"),
    ]
    events = await fetch("SELECT kind, summary FROM member_event WHERE member = {} ORDER BY id", view.id)
    assert [e["kind"] for e in events] == ["registered", "edited"]
    assert await members.update_member(view.member_no, {"gender": "F"}, pharmacist) == []
    assert len(await fetch("SELECT id FROM member_change")) == 4


async def test_edit_validates_only_what_changes_and_what_must_agree_with_it() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="卫六", birth_date="1990-01-01"), pharmacist)
    with use_language("en"), pytest.raises(ValidationFailed) as info:
        await members.update_member(view.member_no, {"id_number": "11010519491231002X"}, pharmacist)
    assert "does not match" in info.value.errors["id_number"]
    with pytest.raises(ValidationFailed) as info:
        await members.update_member(view.member_no, {"member_class": "key_account"}, pharmacist)
    assert set(info.value.errors) == {"organisation"}
    with pytest.raises(ValidationFailed) as info:
        await members.update_member(view.member_no, {"nickname": "x"}, pharmacist)
    assert set(info.value.errors) == {"nickname"}
    # A new ID number with the birth date cleared: the birth date is taken from it, both are recorded.
    changed = await members.update_member(
        view.member_no, {"id_number": "11010519491231002X", "birth_date": ""}, pharmacist
    )
    assert [(c.field, c.new) for c in changed] == [("birth_date", "1949-12-31"), ("id_number", "added")]
    details = await members.details(view.member_no, pharmacist)
    assert details.id_masked == "1101**********002X"
    with pytest.raises(NotFound):
        await members.update_member("8000009995", {"name": "x"}, pharmacist)


async def test_confirming_details_clears_the_flag() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="蒋七"), pharmacist)
    old = datetime.now(UTC) - timedelta(days=400)
    await fetch("UPDATE member SET verified_at = {}, created_at = {} WHERE id = {}", old, old, view.id)
    assert await members.flag_verification_due() == 1
    assert (await members.get_member(view.member_no, pharmacist)).needs_verification
    await members.confirm_details(view.member_no, pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert not view.needs_verification
    row = (await fetch("SELECT verification_due, verified_by FROM member WHERE id = {}", view.id))[0]
    assert not row["verification_due"] and row["verified_by"] == pharmacist.id
    details = await members.details(view.member_no, pharmacist)
    assert details.verified_by == "王药师" and not details.needs_verification


async def test_details_and_the_edit_form_are_audited() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="沈八", phone="13866667777"), pharmacist)
    await members.details(view.member_no, pharmacist)
    form = await members.edit_values(view.member_no, pharmacist)
    assert form.phone == "13866667777" and form.id_number == ""
    assert await audit.count(members.DETAILS_VIEW) == 1
    assert await audit.count(members.PHONE_REVEAL) == 1
