"""The allergy status by member number: "no known allergies", an allergy, and "none" refused while one is active."""

from __future__ import annotations

import pytest

from app.components import members
from app.components.core.errors import ValidationFailed
from tests.conftest import actor, grant_health_consent


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
