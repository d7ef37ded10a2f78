"""Merging from the profile: enter the other number, compare side by side, confirm; the undo button."""

from __future__ import annotations

import re

from app.components import members
from app.db import fetch
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _pair() -> tuple[members.MemberView, members.MemberView]:
    pharmacist = await actor()
    keep = await members.register(members.NewMember(name="蒋琴", phone="13300000001"), pharmacist)
    dup = await members.register(members.NewMember(name="蒋琴", birth_date="1990-02-03"), pharmacist)
    return keep, dup


async def test_compare_then_confirm_then_undo(client) -> None:
    keep, dup = await _pair()
    headers = await _headers(client)
    base = f"/members/{keep.member_no}/merge"
    section = await client.get(base, headers=headers)
    assert section.status_code == 200 and 'data-testid="merge-form"' in section.text
    compare = await client.get(f"{base}/compare", params={"other_no": dup.member_no}, headers=headers)
    assert compare.status_code == 200 and 'data-testid="merge-compare-view"' in compare.text
    assert "133****0001" in compare.text and "1990-02-03" in compare.text  # both sides
    assert 'data-testid="merge-differences"' not in compare.text  # same name, nothing contradicts
    assert 'data-testid="merge-confirm"' in compare.text and 'data-testid="merge-swap"' in compare.text
    done = await client.post(base, data={"other_no": dup.member_no}, headers=headers)
    assert done.status_code == 200 and 'data-testid="merge-done"' in done.text
    assert done.headers["HX-Refresh"] == "true"  # every section of the profile changed
    merge_id = re.search(r'data-merge-id="(\d+)" data-active="true"', done.text).group(1)
    assert 'data-testid="merge-undo"' in done.text
    again = await client.post(base, data={"other_no": dup.member_no}, headers=headers)  # a double tap
    assert again.status_code == 200
    assert (await fetch("SELECT COUNT(*) AS n FROM member_merge"))[0]["n"] == 1
    undone = await client.post(f"{base}s/{merge_id}/undo", headers=headers)
    assert undone.status_code == 200 and 'data-active="false"' in undone.text
    assert 'data-testid="merge-undone"' in undone.text
    rows = await fetch("SELECT merged_into FROM member WHERE member_no = {}", dup.member_no)
    assert rows[0]["merged_into"] is None
    # The merged record's own section shows the merge from its side.
    other = await client.get(f"/members/{dup.member_no}/merge", headers=headers)
    assert f'data-merge-id="{merge_id}"' in other.text


async def test_bad_numbers_come_back_next_to_the_field(client) -> None:
    keep, _ = await _pair()
    headers = await _headers(client, "manager")
    for other in ("", "8000009995", keep.member_no):
        response = await client.get(
            f"/members/{keep.member_no}/merge/compare", params={"other_no": other}, headers=headers
        )
        assert response.status_code == 422, other
        assert 'data-testid="error-other_no"' in response.text and f'value="{other}"' in response.text
    response = await client.post(f"/members/{keep.member_no}/merge", data={"other_no": "123"}, headers=headers)
    assert response.status_code == 422 and 'data-testid="error-other_no"' in response.text
    assert (await fetch("SELECT COUNT(*) AS n FROM member_merge"))[0]["n"] == 0


async def test_only_pharmacists_and_managers_merge_and_undo(client) -> None:
    keep, dup = await _pair()
    headers = await _headers(client, "clerk")
    section = await client.get(f"/members/{keep.member_no}/merge", headers=headers)
    assert section.status_code == 200 and 'data-testid="merge-form"' not in section.text
    response = await client.post(f"/members/{keep.member_no}/merge", data={"other_no": dup.member_no}, headers=headers)
    assert response.status_code == 403
    assert (await fetch("SELECT COUNT(*) AS n FROM member_merge"))[0]["n"] == 0


async def test_an_undo_names_its_own_member_and_unknown_merges_are_404(client) -> None:
    keep, dup = await _pair()
    bystander = await members.register(members.NewMember(name="路人"), await actor())
    headers = await _headers(client)
    await client.post(f"/members/{keep.member_no}/merge", data={"other_no": dup.member_no}, headers=headers)
    merge_id = (await fetch("SELECT id FROM member_merge"))[0]["id"]
    response = await client.post(f"/members/{bystander.member_no}/merges/{merge_id}/undo", headers=headers)
    assert response.status_code == 404
    response = await client.post(f"/members/{keep.member_no}/merges/99999/undo", headers=headers)
    assert response.status_code == 404 and "99999" in response.text
    assert (await fetch("SELECT undone_at FROM member_merge"))[0]["undone_at"] is None
    response = await client.get("/members/8000009995/merge", headers=headers)
    assert response.status_code == 404


async def test_without_htmx_the_confirm_returns_to_the_profile(client) -> None:
    keep, dup = await _pair()
    token = await login(client, "pharmacist")
    page = await client.get(f"/members/{keep.member_no}/merge/compare", params={"other_no": dup.member_no})
    assert page.status_code == 200 and "<html" in page.text
    response = await client.post(
        f"/members/{keep.member_no}/merge",
        data={"other_no": dup.member_no, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/members/{keep.member_no}"
