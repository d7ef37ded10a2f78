"""The allergy record: recording coded allergies, "no known allergies", and changes that keep who and when."""

from __future__ import annotations

import pytest

from app.components import allergies, health, members
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from app.i18n import use_language
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor, grant_health_consent


async def test_allergy_status_changes_keep_who_and_when_and_the_banner_state() -> None:
    pharmacist, clerk = await actor(), await actor("clerk")
    member_no = await _member()
    await members.add_allergy(member_no, members.NewAllergy(allergen_class="penicillins", criticality="high"), clerk)
    await members.add_allergy(member_no, members.NewAllergy(allergen_class="sulfonamide_antibiotics"), clerk)
    record = await health.health_record(member_no, pharmacist)
    by_class = {a.allergen_class: a for a in record.allergies}
    refuted = await health.change_allergy(member_no, by_class["sulfonamide_antibiotics"].id, "refute", pharmacist)
    assert (refuted.verification_status, refuted.active, refuted.changed_by) == ("refuted", False, "王药师")
    view = await members.get_member(member_no, pharmacist)
    assert [a.allergen_class for a in view.allergies] == ["penicillins"] and view.allergy_status == "has_allergies"
    resolved = await health.change_allergy(member_no, by_class["penicillins"].id, "resolve", pharmacist)
    assert resolved.clinical_status == "resolved" and resolved.changed_at is not None
    view = await members.get_member(member_no, pharmacist)
    assert view.allergies == [] and view.allergy_status == "unknown"  # the counter asks again
    with pytest.raises(ValidationFailed):
        await health.change_allergy(member_no, by_class["sulfonamide_antibiotics"].id, "reactivate", pharmacist)
    again = await health.change_allergy(member_no, by_class["penicillins"].id, "reactivate", pharmacist)
    assert again.active and (await members.get_member(member_no, pharmacist)).allergy_status == "has_allergies"
    with pytest.raises(ValidationFailed):
        await health.change_allergy(member_no, by_class["penicillins"].id, "forget", pharmacist)
    with pytest.raises(NotFound):
        await health.change_allergy(member_no, 999999, "resolve", pharmacist)
    events = await fetch("SELECT ref FROM member_event WHERE kind = 'allergy' ORDER BY id")
    assert len(events) == 3 and all(e["ref"].startswith("allergy-status:") for e in events)
    assert await audit.count(allergies.ALLERGY_CHANGE) == 3


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


def test_a_fully_coded_allergy_has_no_errors() -> None:
    entry = allergies.NewAllergy(
        allergen_class="penicillins",
        substance="amoxicillin",
        category="medication",
        criticality="low",
        reaction="rash",
        severity="mild",
        verification_status="confirmed",
        clinical_status="active",
    )
    assert allergies.validate_allergy(entry) == {}
    assert allergies.validate_allergy(allergies.NewAllergy(allergen_class="penicillins")) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"allergen_class": ""}, "allergen_class"),
        ({"allergen_class": "unobtainium"}, "allergen_class"),
        ({"substance": "ibuprofen"}, "substance"),
        ({"category": "mineral"}, "category"),
        ({"criticality": ""}, "criticality"),
        ({"criticality": "extreme"}, "criticality"),
        ({"reaction": "sneezing fit"}, "reaction"),
        ({"severity": "fatal"}, "severity"),
        ({"verification_status": "maybe"}, "verification_status"),
        ({"clinical_status": "dormant"}, "clinical_status"),
    ],
)
def test_each_uncoded_field_gets_its_own_error(changes: dict, field: str) -> None:
    entry = allergies.NewAllergy(**{"allergen_class": "penicillins", **changes})
    assert set(allergies.validate_allergy(entry)) == {field}


def test_a_change_that_leaves_no_active_allergy_means_ask_again() -> None:
    assert allergies.status_after_change(0) == "unknown"
    assert allergies.status_after_change(1) == "has_allergies"
    assert allergies.status_after_change(3) == "has_allergies"


def test_the_error_names_the_unknown_class_or_a_dash_when_none_was_chosen() -> None:
    with use_language("en"):
        assert (
            "unobtainium"
            in allergies.validate_allergy(allergies.NewAllergy(allergen_class="unobtainium"))["allergen_class"]
        )
        assert "—" in allergies.validate_allergy(allergies.NewAllergy())["allergen_class"]
