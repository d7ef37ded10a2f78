"""Likely duplicates, merging two records of one person, and undoing the merge."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.consents import records as consents
from app.components.core import clock
from app.components.core.crypto import decrypt
from app.components.core.errors import NotFound, ValidationFailed
from app.components.members import duplicates, households, numbers
from app.components.members import merging as merge
from app.components.members.numbers import id_check_digit
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor


def _id_number(birth: str = "19491231", region: str = "110105", seq: str = "002") -> str:
    body = region + birth + seq
    return body + id_check_digit(body)


async def _member(name: str, **fields: str) -> members.MemberView:
    return await members.register(members.NewMember(name=name, **fields), await actor())


async def _id(view: members.MemberView) -> int:
    return await members.member_id(view.member_no)


async def _allergy(view: members.MemberView, allergen_class: str, criticality: str = "high") -> None:
    """Record an allergy (with the health-data consent it needs)."""
    pharmacist = await actor()
    await consents.change_consent(view.member_no, consents.HEALTH_DATA, True, pharmacist)
    await members.add_allergy(
        view.member_no, members.NewAllergy(allergen_class=allergen_class, criticality=criticality), pharmacist
    )


# ---------------------------------------------------------------- likely duplicates


async def test_likely_duplicates_by_phone_id_number_and_name_with_birth_date() -> None:
    by_phone = await _member("张三", phone="13812340001")
    by_id = await _member("张叁", id_number=_id_number())
    by_name = await _member("张伟", birth_date="1980-05-06")
    await _member("张伟", birth_date="1981-05-06")  # same name, other birthday: not a duplicate
    with use_language("en"):
        found = await duplicates.likely_duplicates(
            "138 1234 0001", _id_number().lower().replace("x", "x"), "张伟", date(1980, 5, 6)
        )
    assert {m.member_no: m.reasons for m in found} == {
        by_phone.member_no: ["same phone"],
        by_id.member_no: ["same resident ID"],
        by_name.member_no: ["same name and birth date"],
    }
    assert found[0].member_no == by_id.member_no  # an ID match first
    assert next(m for m in found if m.member_no == by_phone.member_no).phone_masked == "138****0001"
    assert await duplicates.likely_duplicates(None, None, "张伟", None) == []  # a name alone proves nothing
    again = await duplicates.likely_duplicates("13812340001", None, "", None, exclude_member_id=await _id(by_phone))
    assert again == []


async def test_likely_duplicates_give_all_reasons_and_skip_merged_records() -> None:
    first = await _member("李雷", phone="13900000002", birth_date="1990-01-01")
    second = await _member("李雷", phone="13900000002", birth_date="1990-01-01")
    with use_language("zh_CN"):
        found = await duplicates.likely_duplicates("13900000002", "", "李雷", date(1990, 1, 1))
    assert [m.codes for m in found] == [["phone", "name_birth"], ["phone", "name_birth"]]
    assert all(len(m.reasons) == 2 for m in found)
    await merge.merge(first.member_no, second.member_no, await actor())
    found = await duplicates.likely_duplicates("13900000002", "", "李雷", date(1990, 1, 1))
    assert [m.member_no for m in found] == [first.member_no]


# ---------------------------------------------------------------- merge and undo


async def _health(member_id: int, staff_id: int, tag: str) -> None:
    """One row of each health table for a member (as the health archive would write them)."""
    now = datetime.now(UTC)
    await fetch(
        "INSERT INTO member_condition (member, code, source, status, note, evidence, recorded_by, recorded_at)"
        " VALUES ({}, {}, 'declared', 'active', '', '', {}, {})",
        member_id,
        "hypertension" if tag == "a" else "diabetes",
        staff_id,
        now,
    )
    await fetch(
        "INSERT INTO vital (member, kind, systolic, diastolic, glucose_context, flag, measured_at, source)"
        " VALUES ({}, 'bp', 150, 95, '', 'high', {}, 'counter')",
        member_id,
        now,
    )
    for value in ("tablet", f"brand-{tag}"):
        await fetch(
            "INSERT INTO member_preference (member, kind, value, created_at) VALUES ({}, 'dosage_form', {}, {})",
            member_id,
            value,
            now,
        )


async def _counts(member_id: int) -> dict[str, int]:
    out = {}
    for mov in merge.MOVABLE:
        rows = await fetch(f"SELECT COUNT(*) AS n FROM {mov.table} WHERE {mov.column} = {{}}", member_id)
        out[mov.table] = rows[0]["n"]
    return out


async def test_merge_moves_every_record_to_the_survivor_and_undo_puts_it_all_back() -> None:
    pharmacist = await actor()
    keep = await _member("赵敏", birth_date="1985-07-07")
    dup = await _member("赵敏", phone="13600000004", id_number=_id_number("19850707", seq="024"), address="上海市")
    keep_id, dup_id = await _id(keep), await _id(dup)
    await _allergy(dup, "penicillins")
    await _health(keep_id, pharmacist.id, "a")
    await _health(dup_id, pharmacist.id, "b")
    await consents.change_consent(dup.member_no, consents.MARKETING_SMS, True, pharmacist)
    before_keep, before_dup = await _counts(keep_id), await _counts(dup_id)

    record = await merge.merge(keep.member_no, dup.member_no, pharmacist)

    after_keep, after_dup = await _counts(keep_id), await _counts(dup_id)
    for table in before_dup:
        if table == "member_preference":  # the shared "tablet" tag stays behind: the survivor has it already
            assert after_keep[table] == before_keep[table] + 1 and after_dup[table] == 1
        elif table == "member_event":  # only the "merged into" event is left on the merged record
            assert after_dup[table] == 1 and after_keep[table] == before_keep[table] + before_dup[table] + 1
        else:
            assert after_keep[table] == before_keep[table] + before_dup[table], table
            assert after_dup[table] == 0, table
    row = (await fetch("SELECT * FROM member WHERE id = {}", keep_id))[0]
    assert row["allergy_status"] == "has_allergies"
    assert decrypt(row["phone_enc"], "phone") == "13600000004" and row["phone_masked"] == "136****0004"
    assert row["id_number_index"] and row["address_enc"]
    assert row["consent_marketing_sms"] and await consents.may_send_marketing(keep_id, "sms")
    gone = (await fetch("SELECT merged_into FROM member WHERE id = {}", dup_id))[0]
    assert gone["merged_into"] == keep_id
    assert record.active and record.survivor_no == keep.member_no and record.merged_no == dup.member_no
    assert record.moved["allergy"] == 1 and record.moved["vital"] == 1
    stored = json.loads((await fetch("SELECT moved FROM member_merge"))[0]["moved"])
    assert len(stored["rows"]["allergy"]) == 1 and stored["filled"]["phone"] == row["phone_index"]
    assert await audit.count(merge.MEMBER_MERGE) == 2
    kinds = await fetch("SELECT member, summary FROM member_event WHERE kind = 'merged' ORDER BY id")
    assert {k["member"] for k in kinds} == {keep_id, dup_id}
    assert await numbers.resolve_member_no(dup.member_no) == keep.member_no

    undone = await merge.undo(record.id, pharmacist)

    assert not undone.active and undone.undone_by == pharmacist.display_name
    assert await _counts(keep_id) == {**before_keep, "member_event": before_keep["member_event"] + 2}
    assert await _counts(dup_id) == {**before_dup, "member_event": before_dup["member_event"] + 2}
    row = (await fetch("SELECT * FROM member WHERE id = {}", keep_id))[0]
    assert row["phone_enc"] is None and row["phone_masked"] == "" and row["id_number_index"] is None
    assert row["address_enc"] is None and row["allergy_status"] == "unknown"
    assert not row["consent_marketing_sms"] and not await consents.may_send_marketing(keep_id, "sms")
    dup_row = (await fetch("SELECT * FROM member WHERE id = {}", dup_id))[0]
    assert dup_row["merged_into"] is None and dup_row["consent_marketing_sms"]
    assert dup_row["allergy_status"] == "has_allergies"
    assert await audit.count(merge.MEMBER_MERGE_UNDO) == 2
    assert await numbers.resolve_member_no(dup.member_no) == dup.member_no
    # Undoing again changes nothing.
    assert (await merge.undo(record.id, pharmacist)).undone_at == undone.undone_at


async def test_merging_the_same_pair_twice_gives_one_merge() -> None:
    pharmacist = await actor()
    keep, dup = await _member("孙丽"), await _member("孙丽")
    results = await asyncio.gather(
        merge.merge(keep.member_no, dup.member_no, pharmacist),
        merge.merge(keep.member_no, dup.member_no, pharmacist),
    )
    again = await merge.merge(keep.member_no, dup.member_no, pharmacist)
    assert results[0].id == results[1].id == again.id
    assert (await fetch("SELECT COUNT(*) AS n FROM member_merge"))[0]["n"] == 1
    assert await audit.count(merge.MEMBER_MERGE) == 2  # one merge, audited on both records


async def test_crossing_merges_leave_exactly_one() -> None:
    pharmacist = await actor()
    a, b = await _member("周一"), await _member("周一")
    results = await asyncio.gather(
        merge.merge(a.member_no, b.member_no, pharmacist),
        merge.merge(b.member_no, a.member_no, pharmacist),
        return_exceptions=True,
    )
    assert sum(isinstance(r, merge.MergeRecord) for r in results) == 1
    assert sum(isinstance(r, ValidationFailed) for r in results) == 1
    rows = await fetch("SELECT COUNT(*) AS n FROM member WHERE merged_into IS NOT NULL")
    assert rows[0]["n"] == 1


async def test_merge_refuses_bad_pairs_with_field_errors() -> None:
    pharmacist = await actor()
    a, b, c = await _member("吴一"), await _member("吴二"), await _member("吴三")
    with use_language("en"):
        for other, message in [
            ("", "Enter the member number of the other record."),
            ("8000009995", "No member with number 8000009995."),
            (a.member_no, "That is this member's own number: enter the other record's number."),
        ]:
            with pytest.raises(ValidationFailed) as err:
                await merge.merge(a.member_no, other, pharmacist)
            assert err.value.errors == {"other_no": message}
        await merge.merge(a.member_no, b.member_no, pharmacist)
        with pytest.raises(ValidationFailed) as err:
            await merge.merge(c.member_no, b.member_no, pharmacist)
        assert err.value.errors == {"other_no": f"{b.member_no} was already merged into {a.member_no}."}
        with pytest.raises(NotFound):
            await merge.merge(b.member_no, c.member_no, pharmacist)  # a merged record cannot survive
        with pytest.raises(NotFound):
            await merge.undo(424242, pharmacist)


async def test_a_merge_is_undone_only_after_later_merges_of_its_survivor() -> None:
    pharmacist = await actor()
    a, b, c = await _member("郑一"), await _member("郑一"), await _member("郑一")
    await _allergy(a, "sulfonamide_antibiotics")
    first = await merge.merge(b.member_no, a.member_no, pharmacist)  # a into b
    second = await merge.merge(c.member_no, b.member_no, pharmacist)  # b (with a's allergy) into c
    assert await numbers.resolve_member_no(a.member_no) == c.member_no
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await merge.undo(first.id, pharmacist)
    assert err.value.errors == {"merge": f"{b.member_no} was itself merged later: undo that merge first."}
    await merge.undo(second.id, pharmacist)
    await merge.undo(first.id, pharmacist)
    rows = await fetch("SELECT m.member_no FROM allergy a JOIN member m ON m.id = a.member")
    assert [r["member_no"] for r in rows] == [a.member_no]
    assert [r.id for r in await merge.merges_for(b.member_no)] == [second.id, first.id]


async def test_the_survivor_takes_the_merged_records_place_in_a_household() -> None:
    pharmacist = await actor()
    parent = await _member("冯父", birth_date="1980-01-01")
    dup_parent = await _member("冯父", birth_date="1980-01-01")
    child = await _member("冯子", birth_date="2018-01-01")
    await households.link(child.member_no, dup_parent.member_no, "child", pharmacist)  # dup_parent is the contact
    record = await merge.merge(parent.member_no, dup_parent.member_no, pharmacist)
    _, view = await households.household_for(child.member_no, pharmacist)
    assert view is not None
    assert [(m.name, m.member_no, m.role) for m in view.members] == [
        ("冯父", parent.member_no, "contact"),
        ("冯子", child.member_no, "child"),
    ]
    assert view.children[0].guardian_no == parent.member_no
    assert await households.kiosk_visible_members(await _id(parent)) == [await _id(parent), await _id(child)]
    await merge.undo(record.id, pharmacist)
    _, view = await households.household_for(child.member_no, pharmacist)
    assert view is not None
    assert [(m.member_no, m.role) for m in view.members] == [
        (dup_parent.member_no, "contact"),
        (child.member_no, "child"),
    ]
    assert view.children[0].guardian_no == dup_parent.member_no
    assert (await fetch("SELECT household FROM member WHERE id = {}", await _id(parent)))[0]["household"] is None


async def test_records_in_different_households_are_not_merged() -> None:
    pharmacist = await actor()
    a, b = await _member("陈一"), await _member("陈一")
    await households.create_household(a.member_no, pharmacist)
    await households.create_household(b.member_no, pharmacist)
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await merge.merge(a.member_no, b.member_no, pharmacist)
    assert "different households" in err.value.errors["other_no"]
    assert (await fetch("SELECT COUNT(*) AS n FROM member WHERE merged_into IS NOT NULL"))[0]["n"] == 0


async def test_preview_shows_both_sides_and_is_audited() -> None:
    pharmacist = await actor()
    keep = await _member("褚一", phone="13500000005")
    dup = await _member("褚一")
    await _allergy(dup, "penicillins")
    with use_language("en"):
        found = await merge.preview(keep.member_no, dup.member_no, pharmacist)
    assert found.survivor.phone_masked == "135****0005" and found.merged.phone_masked == ""
    assert found.merged.allergies == ["Penicillins"] and found.merged.counts["allergy"] == 1
    assert found.survivor.counts["allergy"] == 0
    assert await audit.count(merge.MEMBER_MERGE_PREVIEW) == 2
    assert found.differences == []  # a detail missing on one side is no disagreement
    other = await _member("褚二", phone="13500000006", birth_date="1990-01-01", gender="F")
    with use_language("en"):
        found = await merge.preview(keep.member_no, other.member_no, pharmacist)
    assert found.differences == ["name", "mobile phone"]


async def test_merge_moves_purchases_points_and_coupons_and_undo_returns_them() -> None:
    from app.components import coupons, loyalty, sales
    from tests.components.sales.sale_data import make_member, make_products, request, stock_in

    await make_products()
    await stock_in("YS90005", 10, "B1")
    keep_no, dup_no = await make_member("孙梅"), await make_member("孙梅")
    sale = await sales.record_sale(await request("m1", member_no=dup_no, lines=[("YS90005", 1)]), await actor())
    keep_id, dup_id = await members.member_id(keep_no), await members.member_id(dup_no)
    await coupons.seed_demo_coupons()
    issued = await coupons.issue("NEW10", dup_id, "manual", "merge-test", None)
    earned = sale.sale.points_earned
    assert earned > 0 and await loyalty.balance(dup_id) == earned

    record = await merge.merge(keep_no, dup_no, await actor())
    assert record.moved["sale"] == 1 and record.moved["points_entry"] == 1 and record.moved["coupon"] == 1
    assert record.moved["medication"] == 1
    assert await loyalty.balance(keep_id) == earned and await loyalty.balance(dup_id) == 0
    assert await loyalty.check_balances() == []  # the cached balances followed the ledger
    assert [c.code for c in await coupons.wallet(keep_id, clock.store_today())] == [issued.code]

    await merge.undo(record.id, await actor())
    assert await loyalty.balance(dup_id) == earned and await loyalty.balance(keep_id) == 0
    assert await loyalty.check_balances() == []
    owner = await fetch("SELECT member FROM sale WHERE sale_no = {}", sale.sale.sale_no)
    assert owner[0]["member"] == dup_id
