"""Households: one adult contact, children with a guardian, unlinking, and what the kiosk may show whom."""

from __future__ import annotations

from datetime import date

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.core import clock
from app.components.core.errors import ValidationFailed
from app.components.members import households
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor


async def _member(name: str, birth: str = "") -> members.MemberView:
    return await members.register(members.NewMember(name=name, birth_date=birth), await actor())


def _years_ago(years: int) -> str:
    today = clock.store_today()
    return date(today.year - years, 1, 1).isoformat()


async def _family() -> dict[str, members.MemberView]:
    """Mother (contact), father (adult), two children (mother's and father's), a neighbour outside."""
    people = {
        "mother": await _member("林母", _years_ago(40)),
        "father": await _member("林父", _years_ago(42)),
        "son": await _member("林子", _years_ago(8)),
        "daughter": await _member("林女", _years_ago(5)),
        "neighbour": await _member("邻居", _years_ago(45)),
    }
    pharmacist = await actor()
    await households.create_household(people["mother"].member_no, pharmacist)
    await households.link(people["father"].member_no, people["mother"].member_no, "adult", pharmacist)
    await households.link(people["son"].member_no, people["mother"].member_no, "child", pharmacist)
    await households.link(
        people["daughter"].member_no,
        people["mother"].member_no,
        "child",
        pharmacist,
        guardian_no=people["father"].member_no,
    )
    return people


async def _id(view: members.MemberView) -> int:
    return await members.member_id(view.member_no)


async def test_a_household_has_one_contact_adults_and_children_with_guardians() -> None:
    people = await _family()
    _, view = await households.household_for(people["son"].member_no, await actor())
    assert view is not None
    roles = {m.name: (m.role, m.guardian_name) for m in view.members}
    assert roles == {
        "林母": ("contact", ""),
        "林父": ("adult", ""),
        "林子": ("child", "林母"),
        "林女": ("child", "林父"),
    }
    assert view.contact_id == await _id(people["mother"])
    assert view.members[0].name == "林母"  # the contact first
    rows = await fetch("SELECT COUNT(*) AS n FROM member WHERE household_role = 'contact'")
    assert rows[0]["n"] == 1


async def test_making_another_adult_the_contact_keeps_exactly_one_contact() -> None:
    people = await _family()
    pharmacist = await actor()
    view = await households.make_contact(people["father"].member_no, people["son"].member_no, pharmacist)
    roles = {m.name: m.role for m in view.members}
    assert roles["林父"] == "contact" and roles["林母"] == "adult"
    assert view.contact_id == await _id(people["father"])
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await households.make_contact(people["son"].member_no, people["mother"].member_no, pharmacist)
    assert err.value.errors == {"target_no": "A child cannot be a household's contact."}


async def test_linking_to_a_member_without_a_household_creates_one_around_them() -> None:
    grandma = await _member("奶奶", _years_ago(70))
    grandson = await _member("孙子", _years_ago(10))
    view = await households.link(grandson.member_no, grandma.member_no, "child", await actor())
    assert [(m.name, m.role, m.guardian_name) for m in view.members] == [
        ("奶奶", "contact", ""),
        ("孙子", "child", "奶奶"),
    ]
    events = await fetch("SELECT member, kind FROM member_event WHERE kind = 'household'")
    assert {e["member"] for e in events} == {await _id(grandma), await _id(grandson)}
    assert await audit.count(households.HOUSEHOLD_CHANGE) == 2


async def test_linking_rules_give_field_errors() -> None:
    people = await _family()
    pharmacist = await actor()
    minor = await _member("小明", _years_ago(12))
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:
            await households.link(people["father"].member_no, people["neighbour"].member_no, "adult", pharmacist)
        assert "already belongs to a household" in err.value.errors["other_no"]
        with pytest.raises(ValidationFailed) as err:
            await households.link(minor.member_no, people["mother"].member_no, "adult", pharmacist)
        assert err.value.errors == {"role": "小明 is under 18: link them as a child."}
        with pytest.raises(ValidationFailed) as err:
            await households.link(minor.member_no, people["mother"].member_no, "cousin", pharmacist)
        assert "role" in err.value.errors
        with pytest.raises(ValidationFailed) as err:
            await households.link(minor.member_no, "8000009995", "child", pharmacist)
        assert err.value.errors == {"other_no": "No member with number 8000009995."}
        with pytest.raises(ValidationFailed) as err:
            await households.link(minor.member_no, minor.member_no, "child", pharmacist)
        assert err.value.errors == {"other_no": "A member cannot be linked to themselves."}
        with pytest.raises(ValidationFailed) as err:  # a guardian must be an adult of the same household
            await households.link(
                minor.member_no, people["mother"].member_no, "child", pharmacist, guardian_no=people["son"].member_no
            )
        assert err.value.errors == {"guardian_no": "林子 is not an adult of this household."}
        with pytest.raises(ValidationFailed) as err:  # a child cannot found a household as its contact
            await households.link(people["neighbour"].member_no, minor.member_no, "adult", pharmacist)
        assert err.value.errors == {"other_no": "A child cannot be a household's contact."}
    assert (await fetch("SELECT household FROM member WHERE member_no = {}", minor.member_no))[0]["household"] is None


async def test_guardian_change_and_unlink_rules() -> None:
    people = await _family()
    pharmacist = await actor()
    mother, father = people["mother"].member_no, people["father"].member_no
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:  # the father is the daughter's guardian
            await households.unlink(father, mother, pharmacist)
        assert err.value.errors["target_no"] == "林父 is the guardian of 林女: give them another guardian first."
        view = await households.set_guardian(people["daughter"].member_no, mother, mother, pharmacist)
        assert {m.name: m.guardian_name for m in view.children} == {"林子": "林母", "林女": "林母"}
        view = await households.unlink(father, mother, pharmacist)
        assert view is not None and "林父" not in {m.name for m in view.members}
    # The contact leaves only once another adult has taken over.
    wife, husband = await _member("周妻", _years_ago(30)), await _member("周夫", _years_ago(31))
    await households.link(husband.member_no, wife.member_no, "adult", pharmacist)
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await households.unlink(wife.member_no, husband.member_no, pharmacist)
    assert err.value.errors == {"target_no": "周妻 is the household's contact: make another adult the contact first."}
    await households.make_contact(husband.member_no, wife.member_no, pharmacist)
    view = await households.unlink(wife.member_no, husband.member_no, pharmacist)
    assert view is not None and [(m.name, m.role) for m in view.members] == [("周夫", "contact")]


async def test_unlinking_down_to_nothing_removes_the_household() -> None:
    people = await _family()
    pharmacist = await actor()
    mother = people["mother"].member_no
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await households.unlink(mother, mother, pharmacist)
    assert "林母 is the guardian of" in err.value.errors["target_no"]
    await households.set_guardian(people["daughter"].member_no, mother, mother, pharmacist)
    await households.unlink(people["father"].member_no, mother, pharmacist)
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await households.unlink(people["neighbour"].member_no, mother, pharmacist)
    assert err.value.errors == {"target_no": "邻居 is not in this household."}
    await households.unlink(people["son"].member_no, mother, pharmacist)
    await households.unlink(people["daughter"].member_no, mother, pharmacist)
    assert await households.unlink(mother, mother, pharmacist) is None
    assert (await fetch("SELECT COUNT(*) AS n FROM household"))[0]["n"] == 0
    left = await fetch("SELECT household, household_role, guardian FROM member WHERE household IS NOT NULL")
    assert left == []


async def test_the_kiosk_shows_a_member_only_themselves_and_the_children_in_their_care() -> None:
    people = await _family()
    ids = {k: await _id(v) for k, v in people.items()}
    assert await households.kiosk_visible_members(ids["mother"]) == [ids["mother"], ids["son"]]
    assert await households.kiosk_visible_members(ids["father"]) == [ids["father"], ids["daughter"]]
    # A child sees only itself; the contact never sees the other adult, nor the other adult the contact.
    assert await households.kiosk_visible_members(ids["son"]) == [ids["son"]]
    assert ids["father"] not in await households.kiosk_visible_members(ids["mother"])
    assert await households.kiosk_visible_members(ids["neighbour"]) == [ids["neighbour"]]
    assert await households.kiosk_visible_members(999_999) == []
    # A child who left the household is no longer in the former guardian's care.
    pharmacist = await actor()
    await households.unlink(people["son"].member_no, people["mother"].member_no, pharmacist)
    assert await households.kiosk_visible_members(ids["mother"]) == [ids["mother"]]
    # A merged-away record sees nothing.
    await fetch("UPDATE member SET merged_into = {} WHERE id = {}", ids["father"], ids["neighbour"])
    assert await households.kiosk_visible_members(ids["neighbour"]) == []
