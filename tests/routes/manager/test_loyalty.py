"""Loyalty pages (rules, coupons) and the points API, through the real application."""

from __future__ import annotations

import re
from datetime import date

from app.components import loyalty, members
from app.components.core import clock
from app.db import fetch, transaction
from tests.conftest import actor, api_headers, login

HX = {"HX-Request": "true"}


def _rules_form(**overrides: str) -> dict[str, str]:
    return {**loyalty.rules_form(loyalty.DEFAULT_RULES), **overrides}


async def test_admin_changes_the_rules_and_the_change_is_audited(client) -> None:
    token = await login(client, "admin")
    page = await client.get("/manager/loyalty")
    assert page.status_code == 200 and 'data-testid="save-rules"' in page.text
    assert 'value="1.5"' in page.text  # the gold multiplier as a manager reads it
    saved = await client.post(
        "/manager/loyalty",
        data=_rules_form(member_day="18", gold_multiplier="1.6"),
        headers={**HX, "x-csrftoken": token},
    )
    assert saved.status_code == 200 and 'data-testid="rules-saved"' in saved.text
    rules = await loyalty.rules()
    assert (rules.member_day, rules.gold_pct) == (18, 160)
    audited = await fetch("SELECT username, detail FROM audit_event WHERE action = {}", loyalty.RULES_CHANGE)
    assert audited[0]["username"] == "admin" and "member_day: 8 → 18" in audited[0]["detail"]


async def test_bad_rules_are_shown_next_to_the_fields_and_nothing_typed_is_lost(client) -> None:
    token = await login(client, "admin")
    response = await client.post(
        "/manager/loyalty",
        data=_rules_form(points_per_yuan="abc", silver_yuan="9000"),
        headers={**HX, "x-csrftoken": token},
    )
    assert response.status_code == 422
    assert 'data-testid="error-points_per_yuan"' in response.text
    assert 'data-testid="error-gold_yuan"' in response.text  # silver above gold
    assert 'value="abc"' in response.text and 'value="9000"' in response.text
    assert await loyalty.rules() == loyalty.DEFAULT_RULES


async def test_analysts_and_store_managers_read_the_rules_but_cannot_save(client) -> None:
    token = await login(client, "analyst")
    page = await client.get("/manager/loyalty")
    assert page.status_code == 200 and 'data-testid="read-only"' in page.text and "save-rules" not in page.text
    refused = await client.post("/manager/loyalty", data=_rules_form(), headers={"x-csrftoken": token})
    assert refused.status_code == 403
    coupons_page = await client.get("/manager/coupons")
    assert coupons_page.status_code == 200 and "template-form" not in coupons_page.text


async def test_admin_creates_a_template_with_field_errors_first(client) -> None:
    token = await login(client, "admin")
    bad = await client.post(
        "/manager/coupons",
        data={"code": "SPRING10", "name_zh": "", "kind": "amount", "value": "ten", "scope": "all"},
        headers={**HX, "x-csrftoken": token},
    )
    assert bad.status_code == 422
    assert 'data-testid="error-name_zh"' in bad.text and 'data-testid="error-value"' in bad.text
    assert 'value="SPRING10"' in bad.text
    good = await client.post(
        "/manager/coupons",
        data={"code": "spring10", "name_zh": "春季满减", "kind": "amount", "value": "10", "threshold": "50",
              "scope": "all", "valid_days": "30", "per_member_limit": "1", "restore_on_return": "1"},
        headers={**HX, "x-csrftoken": token},
    )  # fmt: skip
    assert good.status_code == 200
    assert 'data-code="SPRING10"' in good.text and "春季满减" in good.text


async def _template(client, token: str) -> None:
    response = await client.post(
        "/manager/coupons",
        data={"code": "GIFT5", "name_zh": "五元券", "kind": "amount", "value": "5", "scope": "all",
              "per_member_limit": "0"},
        headers={**HX, "x-csrftoken": token},
    )  # fmt: skip
    assert response.status_code == 200, response.text


async def test_issuing_to_a_member_once_per_submit(client) -> None:
    token = await login(client, "admin")
    await _template(client, token)
    member = await members.register(members.NewMember(name="领券"), await actor())
    unknown = await client.post(
        "/manager/coupons/GIFT5/issue",
        data={"member_no": "8999999999", "request_key": "k1"},
        headers={**HX, "x-csrftoken": token},
    )
    assert unknown.status_code == 422 and 'data-testid="error-member_no"' in unknown.text
    assert 'value="8999999999"' in unknown.text
    for _ in range(2):  # a double tap
        issued = await client.post(
            "/manager/coupons/GIFT5/issue",
            data={"member_no": member.member_no, "request_key": "k2"},
            headers={**HX, "x-csrftoken": token},
        )
        assert issued.status_code == 200 and 'data-testid="coupon-notice"' in issued.text
    rows = await fetch(
        "SELECT c.code FROM coupon c JOIN member m ON m.id = c.member WHERE m.member_no = {}", member.member_no
    )
    assert len(rows) == 1 and rows[0]["code"] in issued.text
    missing = await client.post(
        "/manager/coupons/NOPE/issue", data={"member_no": member.member_no}, headers={**HX, "x-csrftoken": token}
    )
    assert missing.status_code == 404


async def test_printing_codes_gives_a_printable_page_once_per_batch(client) -> None:
    token = await login(client, "admin")
    await _template(client, token)
    first = await client.post(
        "/manager/coupons/GIFT5/print", data={"count": "3", "batch_key": "b1"}, headers={"x-csrftoken": token}
    )
    assert first.status_code == 200
    assert first.text.count('data-testid="coupon-code"') == 3 and "<svg" in first.text
    again = await client.post(
        "/manager/coupons/GIFT5/print", data={"count": "3", "batch_key": "b1"}, headers={"x-csrftoken": token}
    )
    codes = set(re.findall(r'<strong style="[^"]*">([^<]+)</strong>', first.text))
    assert codes == set(re.findall(r'<strong style="[^"]*">([^<]+)</strong>', again.text)) and len(codes) == 3
    assert (await fetch("SELECT COUNT(*) AS n FROM coupon WHERE source = 'printed'"))[0]["n"] == 3
    bad = await client.post(
        "/manager/coupons/GIFT5/print", data={"count": "9999"}, headers={**HX, "x-csrftoken": token}
    )
    assert bad.status_code == 422 and 'data-testid="error-count"' in bad.text


async def test_points_api_shows_balance_ledger_and_what_expires(client) -> None:
    headers = await api_headers()
    member = await members.register(members.NewMember(name="查积分"), await actor())
    member_id = await members.member_id(member.member_no)
    today = clock.store_today()
    async with transaction():
        await loyalty.earn(member_id, "S1", 30_000, today, None, None)
        await loyalty.redeem(member_id, 100, "S2", None, None)
    body = (await client.get(f"/api/v1/members/{member.member_no}/points", headers=headers)).json()
    assert body["balance"] == body["expiring"][0]["points"] == (await loyalty.balance(member_id))
    assert body["tier"] == "regular"
    assert [e["kind"] for e in body["entries"]] == ["redeem", "earn"]
    assert body["expiring"][0]["date"] == loyalty.expiry_for(today).isoformat()
    paged = (await client.get(f"/api/v1/members/{member.member_no}/points?per_page=1&page=2", headers=headers)).json()
    assert [e["kind"] for e in paged["entries"]] == ["earn"] and not paged["has_next"]
    missing = await client.get("/api/v1/members/8999999999/points", headers=headers)
    assert missing.status_code == 404 and "8999999999" in missing.json()["errors"][0]["message"]
    assert (await client.get(f"/api/v1/members/{member.member_no}/points")).status_code == 401


async def test_the_wallet_macro_shows_points_and_usable_coupons(client) -> None:
    from app.components import coupons

    member = await members.register(members.NewMember(name="钱包"), await actor())
    member_id = await members.member_id(member.member_no)
    await coupons.create_template(coupons.NewTemplate(code="W1", name_zh="十元券", value="10"), await actor("admin"))
    await coupons.issue("W1", member_id, "campaign", "c1", None)
    async with transaction():
        await loyalty.earn(member_id, "S1", 12_345, date(2026, 3, 15), None, None)
    wallet = await loyalty.wallet(member_id, today=date(2027, 1, 15))
    assert wallet.balance == 123 and wallet.expiring == [(date(2027, 3, 31), 123)]
    wallet_panel = client.app.template_engine.get_template("_macros/counter.html").module.wallet_panel
    html = str(wallet_panel(wallet, [], "/counter/cart/coupons"))
    assert 'data-testid="wallet-balance"' in html and "123" in html
    assert html.count('data-testid="wallet-coupon"') == 1 and 'hx-post="/counter/cart/coupons"' in html
    applied = str(wallet_panel(wallet, [wallet.coupons[0].code]))
    assert 'hx-post="/counter/cart/coupons/remove"' in applied and 'aria-pressed="true"' in applied


async def test_a_store_manager_issues_to_their_own_stores_members_only(client) -> None:
    admin = await login(client, "admin")
    await _template(client, admin)
    own = await members.register(members.NewMember(name="本店会员"), await actor())  # SH001, the manager's
    other = await members.register(members.NewMember(name="他店会员", store_code="SH002"), await actor("admin"))
    client.cookies.clear()
    token = await login(client, "manager")
    page = await client.get("/manager/coupons")
    assert page.status_code == 200 and 'data-testid="issue-form"' in page.text
    assert 'data-testid="template-form"' not in page.text and 'data-testid="print-form"' not in page.text  # HQ's
    headers = {**HX, "x-csrftoken": token}
    issued = await client.post(
        "/manager/coupons/GIFT5/issue", data={"member_no": own.member_no, "request_key": "m1"}, headers=headers
    )
    assert issued.status_code == 200 and 'data-testid="coupon-notice"' in issued.text
    refused = await client.post(
        "/manager/coupons/GIFT5/issue", data={"member_no": other.member_no, "request_key": "m2"}, headers=headers
    )
    assert refused.status_code == 422 and 'data-testid="error-member_no"' in refused.text
    assert f'value="{other.member_no}"' in refused.text  # what was typed stays
    held = await fetch("SELECT m.member_no FROM coupon c JOIN member m ON m.id = c.member")
    assert [r["member_no"] for r in held] == [own.member_no]
    audited = await fetch("SELECT username FROM audit_event WHERE action = 'coupon.issue'")
    assert [r["username"] for r in audited] == ["manager"]
    # Templates and printed codes stay HQ's.
    assert (await client.post("/manager/coupons", data={"code": "X1"}, headers=headers)).status_code == 403
    assert (await client.post("/manager/coupons/GIFT5/print", data={"count": "1"}, headers=headers)).status_code == 403
    client.cookies.clear()
    analyst = await login(client, "analyst")
    assert 'data-testid="issue-form"' not in (await client.get("/manager/coupons")).text
    denied = await client.post(
        "/manager/coupons/GIFT5/issue", data={"member_no": own.member_no}, headers={"x-csrftoken": analyst}
    )
    assert denied.status_code == 403


async def _category_template(client, token: str, code: str, category: str):
    """Post the new-template form for 10 % off one category, typed as `category`."""
    form = {"code": code, "name_zh": "类别券", "kind": "percent", "value": "10", "scope": "category"}
    return await client.post(
        "/manager/coupons", data={**form, "scope_value": category}, headers={**HX, "x-csrftoken": token}
    )


async def test_a_category_coupon_names_its_category_in_the_page_language(client) -> None:
    token = await login(client, "admin")
    response = await _category_template(client, token, "COLD9", "Cold & flu")
    assert response.status_code == 200, response.text
    rows = await fetch("SELECT scope_value FROM coupon_template WHERE code = 'COLD9'")
    assert rows[0]["scope_value"] == "感冒/流感"  # stored as the catalog's code, so cart lines match it
    scope = re.compile(r'data-testid="coupon-scope">([^<]*)<')
    assert scope.findall(response.text) == ["类别：感冒/流感"]
    await client.post("/language", data={"language": "en", "next": "/manager/coupons"}, headers={"x-csrftoken": token})
    english = await client.get("/manager/coupons")
    assert scope.findall(english.text) == ["category Cold &amp; flu"]
    typo = await _category_template(client, token, "COLD8", "colds")
    assert typo.status_code == 422 and 'data-testid="error-scope_value"' in typo.text and 'value="colds"' in typo.text
