"""The household section: create, add or join, roles and guardians, unlink; errors keep what was typed."""

from __future__ import annotations

import re
from datetime import date

from app.components import members
from app.components.core import clock
from app.db import fetch
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _member(name: str, age: int) -> members.MemberView:
    today = clock.store_today()
    birth = date(today.year - age, 1, 1).isoformat()
    return await members.register(members.NewMember(name=name, birth_date=birth), await actor())


def _roles(html: str) -> dict[str, str]:
    """member number → role, as the section lists them."""
    return dict(re.findall(r'data-testid="household-member" data-member-no="(\d+)" data-role="(\w+)"', html))


async def test_create_a_household_then_add_a_child_and_an_adult(client) -> None:
    mother, son, father = await _member("韩母", 38), await _member("韩子", 9), await _member("韩父", 40)
    headers = await _headers(client)
    base = f"/members/{mother.member_no}/household"
    response = await client.get(base, headers=headers)
    assert response.status_code == 200 and 'data-testid="no-household"' in response.text
    response = await client.post(base, data={}, headers=headers)
    assert response.status_code == 200 and _roles(response.text) == {mother.member_no: "contact"}
    response = await client.post(
        f"{base}/link",
        data={"other_no": son.member_no, "role": "child", "guardian_no": mother.member_no},
        headers=headers,
    )
    assert response.status_code == 200
    assert _roles(response.text) == {mother.member_no: "contact", son.member_no: "child"}
    assert "韩母" in response.text.split(son.member_no, 1)[1]  # the child's guardian is named
    response = await client.post(f"{base}/link", data={"other_no": father.member_no, "role": "adult"}, headers=headers)
    assert _roles(response.text)[father.member_no] == "adult"
    # The father's own profile shows the same household.
    response = await client.get(f"/members/{father.member_no}/household", headers=headers)
    assert len(_roles(response.text)) == 3


async def test_join_another_members_household_from_ones_own_profile(client) -> None:
    grandpa, grandson = await _member("爷爷", 72), await _member("孙女", 6)
    headers = await _headers(client, "clerk")
    response = await client.post(
        f"/members/{grandson.member_no}/household/link",
        data={"other_no": grandpa.member_no, "role": "child"},
        headers=headers,
    )
    assert response.status_code == 200
    assert _roles(response.text) == {grandpa.member_no: "contact", grandson.member_no: "child"}


async def test_errors_come_back_next_to_the_field_with_the_typed_values(client) -> None:
    minor, adult = await _member("小红", 11), await _member("大人", 35)
    headers = await _headers(client)
    response = await client.post(
        f"/members/{minor.member_no}/household/link",
        data={"other_no": "8000009995", "role": "child"},
        headers=headers,
    )
    assert response.status_code == 422
    assert 'data-testid="error-other_no"' in response.text and 'value="8000009995"' in response.text
    response = await client.post(
        f"/members/{minor.member_no}/household/link",
        data={"other_no": adult.member_no, "role": "adult"},
        headers=headers,
    )
    assert response.status_code == 422 and 'data-testid="error-role"' in response.text
    assert f'value="{adult.member_no}"' in response.text
    assert re.search(r'value="adult"\s+checked', response.text)  # the chosen role is kept
    assert (await fetch("SELECT COUNT(*) AS n FROM household"))[0]["n"] == 0


async def test_make_contact_set_guardian_and_unlink(client) -> None:
    mother, father, son = await _member("秦母", 36), await _member("秦父", 37), await _member("秦子", 7)
    headers = await _headers(client)
    base = f"/members/{mother.member_no}/household"
    await client.post(base, data={}, headers=headers)
    await client.post(f"{base}/link", data={"other_no": father.member_no, "role": "adult"}, headers=headers)
    await client.post(f"{base}/link", data={"other_no": son.member_no, "role": "child"}, headers=headers)
    response = await client.post(f"{base}/contact", data={"target_no": father.member_no}, headers=headers)
    assert _roles(response.text) == {father.member_no: "contact", mother.member_no: "adult", son.member_no: "child"}
    response = await client.post(
        f"{base}/guardian", data={"target_no": son.member_no, "guardian_no": father.member_no}, headers=headers
    )
    assert response.status_code == 200
    rows = await fetch("SELECT g.member_no FROM member c JOIN member g ON g.id = c.guardian")
    assert [r["member_no"] for r in rows] == [father.member_no]
    response = await client.post(f"{base}/unlink", data={"target_no": father.member_no}, headers=headers)
    assert response.status_code == 422 and 'data-testid="error-target_no"' in response.text
    response = await client.post(f"{base}/unlink", data={"target_no": mother.member_no}, headers=headers)
    assert response.status_code == 200 and mother.member_no not in _roles(response.text)
    # The mother's own section now offers to create or join a household again.
    response = await client.get(base, headers=headers)
    assert 'data-testid="no-household"' in response.text


async def test_without_htmx_posts_return_to_the_profile_and_unknown_members_are_404(client) -> None:
    member = await _member("独居", 50)
    token = await login(client, "service")
    response = await client.post(
        f"/members/{member.member_no}/household", data={"_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"/members/{member.member_no}"
    page = await client.get(f"/members/{member.member_no}/household")
    assert "<html" in page.text and 'data-role="contact"' in page.text
    response = await client.get("/members/8000009995/household", headers=HX)
    assert response.status_code == 404 and "8000009995" in response.text
