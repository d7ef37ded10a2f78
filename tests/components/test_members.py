"""Member numbers, registration validation, encryption at rest and the audited lookup."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.components import audit, members
from app.components.errors import NotFound, ValidationFailed
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor


def test_member_numbers_carry_a_luhn_check_digit() -> None:
    number = members.member_no_for(1)
    assert number == "8000000011"
    assert members.is_member_no(number)
    assert not members.is_member_no("8000000012")  # one digit off
    assert not members.is_member_no("13812341234")  # a phone number is not a card


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "13812341234"),
        ("+86 138 1234 1234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("12345678901", None),
        ("1381234123", None),
        ("", None),
        ("02161234567", None),  # a Shanghai landline is not a mobile
    ],
)
def test_phone_normalisation(raw: str, expected: str | None) -> None:
    assert members.normalize_phone(raw) == expected


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


async def test_phone_is_encrypted_at_rest_and_found_by_blind_index(tmp_data_dir) -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="周杰", phone="13987654321"), pharmacist)
    assert view.phone_masked == "139****4321"
    rows = await fetch("SELECT * FROM member WHERE member_no = {}", view.member_no)
    stored = " ".join(str(v) for v in rows[0].values())
    assert "13987654321" not in stored
    found = await members.find_by_code("139 8765 4321", pharmacist)
    assert [m.member_no for m in found] == [view.member_no]
    assert await members.reveal_phone(view.member_no, pharmacist) == "13987654321"


async def test_sqlite_file_does_not_contain_the_phone(tmp_data_dir) -> None:
    from app.db import is_sqlite
    from app.settings import get_settings

    if not is_sqlite():
        pytest.skip("inspects the SQLite file")
    await members.register(members.NewMember(name="吴敏", phone="13711112222"), await actor())
    path = get_settings().sqlite_path
    blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"13711112222" not in blob


async def test_every_allergy_view_is_audited() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="郑洁", phone="13600002222"), pharmacist)
    before = await audit.count(audit.ALLERGY_VIEW)
    await members.find_by_code(view.member_no, pharmacist)
    await members.get_member(view.member_no, pharmacist)
    assert await audit.count(audit.ALLERGY_VIEW) == before + 2
    page = await audit.search(audit.AuditFilter(member_no=view.member_no, action=audit.ALLERGY_VIEW))
    row = page.rows[0]
    assert (row["username"], row["role"], row["store_code"], row["client_addr"]) == (
        "pharmacist",
        "pharmacist",
        "SH001",
        "127.0.0.1",
    )


async def test_allergy_status_moves_from_unknown_to_recorded() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="孙丽"), pharmacist)
    assert view.allergy_status == "unknown"
    view = await members.record_no_known_allergies(view.member_no, pharmacist)
    assert view.allergy_status == "none"
    assert view.allergy_status_by == "王药师"
    view = await members.add_allergy(
        view.member_no, members.NewAllergy(allergen_class="penicillins", criticality="high"), pharmacist
    )
    assert view.allergy_status == "has_allergies"
    assert [(a.allergen_class, a.criticality) for a in view.allergies] == [("penicillins", "high")]
    with pytest.raises(ValidationFailed):
        await members.record_no_known_allergies(view.member_no, pharmacist)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (members.NewAllergy(allergen_class="unobtainium"), "allergen_class"),
        (members.NewAllergy(allergen_class="penicillins", substance="ibuprofen"), "substance"),
        (members.NewAllergy(allergen_class="penicillins", criticality="extreme"), "criticality"),
        (members.NewAllergy(allergen_class="penicillins", verification_status="maybe"), "verification_status"),
    ],
)
async def test_allergies_must_be_coded(entry: members.NewAllergy, field: str) -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="钱多"), pharmacist)
    with pytest.raises(ValidationFailed) as info:
        await members.add_allergy(view.member_no, entry, pharmacist)
    assert field in info.value.errors


async def test_unknown_member_is_not_found_by_number() -> None:
    with pytest.raises(NotFound) as info:
        await members.get_member(members.member_no_for(999), await actor())
    assert members.member_no_for(999) in info.value.message


async def test_hq_registration_needs_a_store() -> None:
    admin = await actor("admin")
    with pytest.raises(ValidationFailed) as info:
        await members.register(members.NewMember(name="冯强"), admin)
    assert "store" in info.value.errors
    view = await members.register(members.NewMember(name="冯强", store_code="SH002"), admin)
    assert view.home_store == "上海徐汇店"
