"""Member numbers, registration validation, encryption at rest and the audited lookup."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.components.members import numbers
from app.components.members.numbers import id_check_digit
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor, grant_health_consent


def test_member_numbers_carry_a_luhn_check_digit() -> None:
    number = members.member_no_for(1)
    assert number == "8000000011"
    assert numbers.is_member_no(number)
    assert not numbers.is_member_no("8000000012")  # one digit off
    assert not numbers.is_member_no("13812341234")  # a phone number is not a card


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
    # Read from another process: closing the file here would drop the POSIX locks our own connections hold.
    script = (
        "import sys, pathlib; p = pathlib.Path(sys.argv[1]);"
        " sys.exit(b'13711112222' in b''.join(f.read_bytes() for f in p.parent.glob(p.name + '*')))"
    )
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, str(path)])
    assert result.returncode == 0, "the phone number is in the database file in clear"


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
    await grant_health_consent(view.member_no)
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
    await grant_health_consent(view.member_no)
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


# ---------------------------------------------------------------- what registration still lacks


async def test_gaps_until_each_step_is_answered() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="吴十"), pharmacist)
    assert view.gaps == ["birth_date", "phone", "health", "consents"]
    assert view.next_step == "health"
    await members.save_health_step(view.member_no, members.HealthStep(consent=False), pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.gaps == ["birth_date", "phone", "consents"] and not view.consent_health
    assert view.next_step == "preferences"
    await members.save_preferences_step(view.member_no, members.PreferencesStep(marketing_sms=True), pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.gaps == ["birth_date", "phone"] and view.next_step is None
    rows = await fetch("SELECT purpose, granted FROM consent_event WHERE member = {} ORDER BY purpose", view.id)
    assert [(r["purpose"], bool(r["granted"])) for r in rows] == [
        ("health_data", False),
        ("kiosk_display", False),
        ("marketing_sms", True),
        ("marketing_wechat", False),
    ]
    # Saving the same answers again appends nothing to the ledger.
    await members.save_preferences_step(view.member_no, members.PreferencesStep(marketing_sms=True), pharmacist)
    assert len(await fetch("SELECT id FROM consent_event WHERE member = {}", view.id)) == 4


async def test_health_step_without_consent_stores_nothing_and_says_why() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="郑一"), pharmacist)
    step = members.HealthStep(consent=False, allergy_status="none", conditions=["hypertension"], height_cm="170")
    with use_language("en"), pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, step, pharmacist)
    assert "consent" in info.value.errors["consent"]
    for table in ("consent_event", "member_condition", "vital"):
        assert await fetch(f"SELECT id FROM {table}") == []
    assert (await members.get_member(view.member_no, pharmacist)).allergy_status == "unknown"


async def test_health_step_with_consent_stores_allergy_conditions_and_vitals_together() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="王二"), pharmacist)
    step = members.HealthStep(
        consent=True,
        allergy_status="has_allergies",
        allergy=members.NewAllergy(allergen_class="penicillins", criticality="high"),
        conditions=["hypertension", "diabetes"],
        height_cm="172",
        weight_kg="70.5",
    )
    await members.save_health_step(view.member_no, step, pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.consent_health and view.allergy_status == "has_allergies"
    assert [a.allergen_class for a in view.allergies] == ["penicillins"]
    codes = await fetch("SELECT code, source FROM member_condition WHERE member = {} ORDER BY code", view.id)
    assert [(r["code"], r["source"]) for r in codes] == [("diabetes", "declared"), ("hypertension", "declared")]
    vitals = await fetch("SELECT kind FROM vital WHERE member = {} ORDER BY kind", view.id)
    assert [r["kind"] for r in vitals] == ["height", "weight"]


async def test_health_step_is_all_or_nothing() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="冯三"), pharmacist)
    step = members.HealthStep(consent=True, allergy_status="none", conditions=["hypertension"], height_cm="17000")
    with pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, step, pharmacist)
    assert set(info.value.errors) == {"height_cm"}
    for table in ("consent_event", "member_condition", "vital"):
        assert await fetch(f"SELECT id FROM {table}") == []
    bad = members.HealthStep(consent=True, conditions=["unobtainium"], allergy_status="has_allergies")
    with pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, bad, pharmacist)
    assert set(info.value.errors) == {"conditions", "allergen_class"}


async def test_preferences_step_validates_tags() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="陈四"), pharmacist)
    step = members.PreferencesStep(preferences={"dosage_form": ["tablet", "lozenge"], "brand": ["同仁堂"]})
    with pytest.raises(ValidationFailed) as info:
        await members.save_preferences_step(view.member_no, step, pharmacist)
    assert set(info.value.errors) == {"dosage_form"}
    step.preferences["dosage_form"] = ["tablet"]
    await members.save_preferences_step(view.member_no, step, pharmacist)
    rows = await fetch("SELECT kind, value FROM member_preference WHERE member = {} ORDER BY kind", view.id)
    assert [(r["kind"], r["value"]) for r in rows] == [("brand", "同仁堂"), ("dosage_form", "tablet")]
    assert members.split_brands("同仁堂，云南白药、 Bayer;") == ["同仁堂", "云南白药", "Bayer"]


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


def test_card_codes_encode_the_member_number() -> None:
    number = members.member_no_for(42)
    svg = members.barcode_svg(number)
    assert svg.startswith("<svg") and f">{number}</text>" in svg
    qr = members.qr_svg(number)
    assert qr.startswith("<svg") and "viewBox" in qr
