"""Registration: validation per field, resident ID numbers, class and responsible pharmacist, duplicates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.components import members
from app.components.core.errors import ValidationFailed
from app.components.members.numbers import id_check_digit
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("name", "", "name"),
        ("phone", "12345", "mobile"),
        ("birth_date", (date.today() + timedelta(days=2)).isoformat(), "future"),
        ("birth_date", "1890-01-01", "120"),
        ("birth_date", "1990-13-01", "YYYY-MM-DD"),
        ("gender", "X", "male"),
    ],
)
async def test_registration_rejects_bad_input_per_field(field: str, value: str, message_part: str) -> None:
    data = members.NewMember(name="张三", phone="13800001111", birth_date="1980-01-01")
    setattr(data, field, value)
    with use_language("en"), pytest.raises(ValidationFailed) as info:
        await members.register(data, await actor())
    assert field in info.value.errors
    assert message_part in info.value.errors[field]


async def test_hq_registration_needs_a_store() -> None:
    admin = await actor("admin")
    with pytest.raises(ValidationFailed) as info:
        await members.register(members.NewMember(name="冯强"), admin)
    assert "store" in info.value.errors
    view = await members.register(members.NewMember(name="冯强", store_code="SH002"), admin)
    assert view.home_store == "上海徐汇店"


# ---------------------------------------------------------------- resident ID, class, responsible pharmacist


def resident_id(birth: str, region: str = "310101", seq: str = "123") -> str:
    """A well-formed resident ID number for a birth date (YYYYMMDD) with its MOD 11-2 check character."""
    body = region + birth + seq
    return body + id_check_digit(body)


def test_resident_id_check_character_follows_iso_7064() -> None:
    assert id_check_digit("11010519491231002") == "X"  # the published example
    assert resident_id("19900101").startswith("31010119900101123")


@pytest.mark.parametrize(
    ("changes", "errors", "clean"),
    [
        (
            {"id_number": "11010519491231002X"},
            {},
            {"id_number": "11010519491231002X", "birth_date": date(1949, 12, 31)},
        ),
        ({"id_number": "110105 19491231 002x"}, {}, {"id_number": "11010519491231002X"}),
        (
            {"id_number": "11010519491231002X", "birth_date": "1949-12-31"},
            {},
            {"birth_date": date(1949, 12, 31)},
        ),
        ({"id_number": "11010519491231002X", "birth_date": "1950-01-01"}, {"id_number": "does not match"}, {}),
        ({"id_number": "110105194912310021"}, {"id_number": "check digit"}, {"id_number": None}),
        ({"id_number": "1101051949123100"}, {"id_number": "18-digit"}, {}),
        ({"id_number": "11010519491231002Y"}, {"id_number": "18-digit"}, {}),
        ({"id_number": resident_id("19990230")}, {"id_number": "valid birth date"}, {}),
        ({"id_number": resident_id("20991231")}, {"id_number": "not possible"}, {}),
        ({"id_number": resident_id("18800101")}, {"id_number": "not possible"}, {}),
        ({"member_class": "vip"}, {"member_class": "key account"}, {}),
        ({"member_class": "key_account"}, {"organisation": "institution"}, {}),
        (
            {"member_class": "key_account", "organisation": " 上海市第一养老院 "},
            {},
            {"member_class": "key_account", "organisation": "上海市第一养老院"},
        ),
        ({"member_class": "regular"}, {}, {"member_class": "regular"}),
        ({"member_class": ""}, {}, {"member_class": "member"}),
        ({"organisation": "x" * 101}, {"organisation": "too long"}, {}),
        ({"address": "上海市  静安区\n南京西路 1 号"}, {}, {"address": "上海市 静安区 南京西路 1 号"}),
        ({"address": "路" * 201}, {"address": "too long"}, {}),
        ({"address": "   "}, {}, {"address": None}),
        ({"responsible_pharmacist": "7"}, {}, {"responsible_pharmacist": 7}),
        ({"responsible_pharmacist": "8"}, {"responsible_pharmacist": "pharmacist of the member's store"}, {}),
        ({"responsible_pharmacist": "abc"}, {"responsible_pharmacist": "pharmacist"}, {}),
        ({"responsible_pharmacist": ""}, {}, {"responsible_pharmacist": None}),
        ({"phone": "+86 139-1111-2222"}, {}, {"phone": "13911112222"}),
        ({"phone": "021 6123 4567"}, {"phone": "mobile"}, {}),
        ({"gender": "f"}, {}, {"gender": "F"}),
    ],
)
def test_validation_table(changes: dict, errors: dict, clean: dict) -> None:
    data = members.NewMember(name="张三")
    for name, value in changes.items():
        setattr(data, name, value)
    with use_language("en"):
        found, cleaned = members.validate_new_member(data, pharmacists={7})
    assert set(found) == set(errors), found
    for name, part in errors.items():
        assert part in found[name]
    for name, value in clean.items():
        assert cleaned[name] == value


def test_validation_without_a_pharmacist_list_checks_only_the_form_of_the_id() -> None:
    errors, clean = members.validate_new_member(members.NewMember(name="李四", responsible_pharmacist="12"))
    assert errors == {} and clean["responsible_pharmacist"] == 12


def test_validation_keeps_the_return_shape_for_imports() -> None:
    errors, clean = members.validate_new_member(members.NewMember(name="王五"))
    assert errors == {}
    assert set(clean) == {
        "name",
        "gender",
        "birth_date",
        "phone",
        "address",
        "id_number",
        "member_class",
        "organisation",
        "responsible_pharmacist",
    }


async def test_registration_encrypts_id_number_and_address_and_takes_the_birth_date_from_the_id(staff_ids) -> None:
    pharmacist = await actor()
    view = await members.register(
        members.NewMember(
            name="钱七",
            phone="13822223333",
            id_number="11010519491231002x",
            address="上海市静安区南京西路 1788 号",
            member_class="key_account",
            organisation="静安区养老院",
            responsible_pharmacist=str(staff_ids["pharmacist"]),
        ),
        pharmacist,
    )
    assert view.birth_date == date(1949, 12, 31)
    assert (view.member_class, view.organisation, view.responsible_pharmacist) == (
        "key_account",
        "静安区养老院",
        staff_ids["pharmacist"],
    )
    rows = await fetch("SELECT * FROM member WHERE member_no = {}", view.member_no)
    stored = " ".join(str(v) for v in rows[0].values())
    assert "11010519491231002X" not in stored and "南京西路" not in stored
    assert rows[0]["id_number_index"] == members.id_number_index("11010519491231002X")
    events = await fetch("SELECT kind FROM member_event WHERE member = {}", view.id)
    assert [e["kind"] for e in events] == ["registered"]


async def test_responsible_pharmacist_must_work_in_the_members_store(staff_ids) -> None:
    with use_language("en"), pytest.raises(ValidationFailed) as info:
        await members.register(
            members.NewMember(name="孙八", responsible_pharmacist=str(staff_ids["pharmacist2"])), await actor()
        )
    assert "store" in info.value.errors["responsible_pharmacist"]
    with pytest.raises(ValidationFailed):  # a clerk is not a pharmacist
        await members.register(
            members.NewMember(name="孙八", responsible_pharmacist=str(staff_ids["clerk"])), await actor()
        )
    view = await members.register(
        members.NewMember(name="孙八", store_code="SH002", responsible_pharmacist=str(staff_ids["pharmacist2"])),
        await actor("admin"),
    )
    assert view.responsible_pharmacist == staff_ids["pharmacist2"]


async def test_registration_can_stop_at_likely_duplicates() -> None:
    pharmacist = await actor()
    first = await members.register(members.NewMember(name="周九", phone="13833334444"), pharmacist)
    with pytest.raises(members.DuplicatesFound) as info:
        await members.register(
            members.NewMember(name="周九九", phone="138 3333 4444"), pharmacist, allow_duplicates=False
        )
    assert [d.member_no for d in info.value.duplicates] == [first.member_no]
    assert info.value.duplicates[0].reasons
    rows = await fetch("SELECT COUNT(*) AS n FROM member")
    assert rows[0]["n"] == 1
    again = await members.register(members.NewMember(name="周九九", phone="13833334444"), pharmacist)
    assert again.member_no != first.member_no
