"""The member list: store scope for store roles, the chain for HQ, search, paging, merged records hidden."""

from __future__ import annotations

import re

from app.components import members
from app.components.members import merging as merge
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


def _numbers(html: str) -> list[str]:
    return re.findall(r'data-testid="member-row" data-member-no="(\d+)"', html)


async def _register(name: str, username: str = "pharmacist", phone: str = "") -> members.MemberView:
    return await members.register(members.NewMember(name=name, phone=phone), await actor(username))


async def test_store_roles_see_their_store_and_hq_the_chain(client) -> None:
    here = await _register("本店会员")
    there = await _register("外店会员", "pharmacist2")
    await login(client, "clerk")
    page = await client.get("/members")
    assert page.status_code == 200 and "<html" in page.text
    assert _numbers(page.text) == [here.member_no]
    assert f'href="/members/{here.member_no}"' in page.text  # counter roles open the profile
    await login(client, "pharmacist2")
    assert _numbers((await client.get("/members", headers=HX)).text) == [there.member_no]
    await login(client, "analyst")
    page = await client.get("/members")
    assert sorted(_numbers(page.text)) == sorted([here.member_no, there.member_no])
    assert 'href="/members/8' not in page.text  # HQ has no counter profile to open
    assert 'href="/manager"' in page.text  # and gets the manager layout


async def test_search_by_name_prefix_member_number_and_phone(client) -> None:
    wang = await _register("王小明", phone="13700001234")
    wang2 = await _register("王大明")
    li = await _register("李王")
    percent = await _register("100%纯")
    await login(client, "pharmacist")

    async def search(q: str) -> list[str]:
        response = await client.get("/members", params={"q": q}, headers=HX)
        assert response.status_code == 200 and "<html" not in response.text
        return _numbers(response.text)

    assert await search("王") == [wang2.member_no, wang.member_no]  # by name
    assert await search("王小") == [wang.member_no]
    assert li.member_no not in await search("王")  # a prefix, not a substring
    assert await search("137 0000 1234") == [wang.member_no]  # exact phone
    assert await search("13700001") == []  # no partial phones
    assert await search(li.member_no) == [li.member_no]
    assert await search(li.member_no[:9]) == [li.member_no]  # a member-number prefix
    assert await search("1_0%") == []  # wildcards are literal
    assert await search("100%") == [percent.member_no]
    response = await client.get("/members", params={"q": "不存在"}, headers=HX)
    assert 'data-testid="no-members"' in response.text and "不存在" in response.text


async def test_paging_and_merged_records_are_hidden(client) -> None:
    created = [await _register(f"翻页{i:02d}") for i in range(53)]
    await login(client, "manager")
    first = await client.get("/members")
    assert len(_numbers(first.text)) == 50 and 'data-testid="next-page"' in first.text
    assert _numbers(first.text)[0] == created[-1].member_no  # newest first
    second = await client.get("/members", params={"page": 2})
    assert _numbers(second.text) == [c.member_no for c in reversed(created[:3])]
    assert 'data-testid="next-page"' not in second.text and 'data-testid="prev-page"' in second.text
    await merge.merge(created[0].member_no, created[1].member_no, await actor())
    everyone = _numbers((await client.get("/members", params={"q": "翻页"})).text)
    everyone += _numbers((await client.get("/members", params={"q": "翻页", "page": 2})).text)
    assert len(everyone) == 52 and created[1].member_no not in everyone


async def test_the_counter_nav_links_to_the_list_and_the_import(client) -> None:
    await login(client, "clerk")
    page = await client.get("/counter")
    assert 'data-testid="nav-members"' in page.text and 'href="/members"' in page.text
    assert 'data-testid="nav-import"' in page.text and 'href="/members/import"' in page.text
    assert (await client.get("/members/import")).status_code == 200
