"""The manager surface: the overview's scope and the HQ audit trail with filters and paging."""

from __future__ import annotations

import re

from app.components import members
from app.components.audit import log as audit
from tests.conftest import actor, login


async def test_overview_counts_the_store_for_a_store_manager_and_the_chain_for_hq(client) -> None:
    await members.register(members.NewMember(name="本店"), await actor("pharmacist"))
    await members.register(members.NewMember(name="他店"), await actor("pharmacist2"))
    await login(client, "manager")
    page = await client.get("/manager")
    assert 'data-testid="stat-total">1<' in page.text
    client.cookies.clear()
    await login(client, "analyst")
    page = await client.get("/manager")
    assert 'data-testid="stat-total">2<' in page.text


async def test_audit_trail_filters_and_pages(client) -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="审计"), pharmacist)
    for _ in range(55):
        await members.get_member(view.member_no, pharmacist)
    await login(client, "admin")
    page = await client.get("/manager/audit", params={"action": audit.ALLERGY_VIEW, "member_no": view.member_no})
    assert page.status_code == 200
    assert page.text.count('data-testid="audit-row"') == 50
    assert 'data-testid="next-page"' in page.text
    second = await client.get(
        "/manager/audit",
        params={"action": audit.ALLERGY_VIEW, "member_no": view.member_no, "page": 2},
        headers={"HX-Request": "true"},
    )
    total = len(
        (await audit.search(audit.AuditFilter(member_no=view.member_no, action=audit.ALLERGY_VIEW), per_page=1000)).rows
    )
    assert total == 56  # 55 reads and the view right after registering
    assert second.text.count('data-testid="audit-row"') == total - 50
    assert "<html" not in second.text
    other = await client.get("/manager/audit", params={"username": "clerk"})
    assert other.text.count('data-testid="audit-row"') == 0


async def test_bad_date_filter_is_explained(client) -> None:
    await login(client, "admin")
    page = await client.get("/manager/audit", params={"date_from": "yesterday"})
    assert page.status_code == 422
    assert 'data-testid="error-date_from"' in page.text
    assert 'value="yesterday"' in page.text


def _menu(html: str) -> list[tuple[str, str]]:
    """(data-testid, href) of the manager menu's links, in order."""
    nav = re.search(r'<nav class="nav"[^>]*data-testid="manager-nav">(.*?)</nav>', html, re.S)
    assert nav, "no manager menu"
    return re.findall(r'<a class="btn btn-nav" href="([^"]+)" data-testid="nav-([\w-]+)"', nav.group(1))


async def test_the_menu_lists_every_page_each_manager_role_uses_and_marks_the_one_shown(client) -> None:
    common = [
        "/manager",
        "/members",
        "/manager/stock",
        "/manager/catalog",
        "/manager/loyalty",
        "/manager/coupons",
        "/manager/journeys",
        "/manager/tasks",
        "/manager/adherence",
        "/manager/messages",
    ]
    expected = {
        "manager": [*common, "/manager/devices", "/manager/settings", "/members/import", "/counter"],
        "admin": [*common, "/manager/settings", "/members/import", "/manager/audit", "/manager/queue",
                  "/manager/events"],
        "analyst": [*common, "/manager/settings", "/members/export"],
    }  # fmt: skip
    for username, pages in expected.items():
        client.cookies.clear()
        await login(client, username)
        for path in pages:
            if path in ("/counter", "/manager/queue"):  # pages of their own, without this menu
                continue
            page = await client.get(path)
            assert page.status_code == 200, (username, path)
            assert [href for href, _key in _menu(page.text)] == pages, (username, path)
            current = re.findall(r'href="([^"]+)" data-testid="nav-[\w-]+" aria-current="page"', page.text)
            assert current == [path], (username, path)
        stock = await client.get("/manager/stock/expiring")  # a page below one of the menu's marks that one
        assert re.findall(r'href="([^"]+)" data-testid="nav-[\w-]+" aria-current="page"', stock.text) == [
            "/manager/stock"
        ]
    # The top bar says where one is and opens the menu by a button, not by hover.
    assert 'data-testid="topbar-title">近效期<' in stock.text
    assert 'data-testid="menu-toggle"' in stock.text and 'aria-controls="topbar-menu"' in stock.text


async def test_the_audit_trail_names_the_channel_in_the_page_language(client) -> None:
    await login(client, "admin")
    page = await client.get("/manager/audit", params={"username": "admin"})
    assert page.text.count('data-testid="audit-row"') >= 1
    assert "网页端" in page.text and "WEB" not in page.text and "· web" not in page.text
