"""The allergy record: recording coded allergies, "no known allergies", and changes that keep who and when."""

from __future__ import annotations

import pytest

from app.components import allergies, health, members
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor


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
