"""The counter: lookup partials, the allergy banner's three states, quick registration and allergy entry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.components import members
from app.db import fetch
from tests.conftest import actor, grant_health_consent, login

HX = {"HX-Request": "true"}


async def _counter(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _member(name: str, phone: str | None = None, status: str = "unknown") -> members.MemberView:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name=name, phone=phone or ""), pharmacist)
    await grant_health_consent(view.member_no)
    if status == "none":
        view = await members.record_no_known_allergies(view.member_no, pharmacist)
    elif status == "penicillin":
        view = await members.add_allergy(
            view.member_no, members.NewAllergy(allergen_class="penicillins", criticality="high"), pharmacist
        )
    return view


async def test_scanning_a_card_shows_the_red_banner_with_each_allergen(client) -> None:
    view = await _member("张伟", "13812341234", status="penicillin")
    headers = await _counter(client)
    response = await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    assert response.status_code == 200
    assert response.headers["Vary"] == "HX-Request"
    html = response.text
    assert "<html" not in html  # just the panel
    assert 'data-status="has_allergies"' in html
    assert 'data-class="penicillins"' in html and "allergy-high" in html
    assert "138****1234" in html and "13812341234" not in html


async def test_a_card_scanned_with_its_symbology_identifier_is_the_same_card(client) -> None:
    view = await _member("张伟", "13812341234", status="penicillin")
    for username in ("pharmacist", "service"):  # a selling counter and one that only looks members up
        headers = await _counter(client, username)
        response = await client.post("/counter/lookup", data={"code": f"]C0{view.member_no}"}, headers=headers)
        assert response.status_code == 200, username
        assert f'data-member-no="{view.member_no}"' in response.text


async def test_phone_number_finds_the_member_and_shared_phones_offer_a_choice(client) -> None:
    first = await _member("王芳", "13600001111")
    headers = await _counter(client)
    response = await client.post("/counter/lookup", data={"code": "136 0000 1111"}, headers=headers)
    assert f'data-member-no="{first.member_no}"' in response.text
    second = await _member("王小芳", "13600001111")
    response = await client.post("/counter/lookup", data={"code": "13600001111"}, headers=headers)
    assert 'data-testid="candidates"' in response.text
    assert first.member_no in response.text and second.member_no in response.text


async def test_unknown_card_is_404_with_a_register_action(client) -> None:
    headers = await _counter(client)
    response = await client.post("/counter/lookup", data={"code": "8000009995"}, headers=headers)
    assert response.status_code == 404
    assert "8000009995" in response.text and 'data-testid="register"' in response.text


async def test_banner_states_none_and_never_asked(client) -> None:
    calm = await _member("李娜", status="none")
    unknown = await _member("赵敏")
    headers = await _counter(client)
    html = (await client.post("/counter/lookup", data={"code": calm.member_no}, headers=headers)).text
    assert 'data-status="none"' in html and "王药师" in html
    html = (await client.post("/counter/lookup", data={"code": unknown.member_no}, headers=headers)).text
    assert 'data-status="unknown"' in html and 'data-testid="no-known-allergies"' in html


async def test_full_page_on_reload_and_partial_for_htmx(client) -> None:
    view = await _member("周迅")
    await login(client, "clerk")
    page = await client.get(f"/counter/members/{view.member_no}")
    assert page.status_code == 200 and "<html" in page.text and view.member_no in page.text
    partial = await client.get(f"/counter/members/{view.member_no}", headers=HX)
    assert "<html" not in partial.text and view.member_no in partial.text
    missing = await client.get("/counter/members/8000009995")
    assert missing.status_code == 404 and "8000009995" in missing.text


async def test_record_allergy_and_no_known_allergies_from_the_panel(client) -> None:
    view = await _member("孙俪")
    headers = await _counter(client)
    response = await client.post(
        f"/counter/members/{view.member_no}/allergies",
        data={"allergen_class": "macrolides", "criticality": "high"},
        headers=headers,
    )
    assert response.status_code == 200 and 'data-class="macrolides"' in response.text
    refused = await client.post(f"/counter/members/{view.member_no}/no-known-allergies", headers=headers)
    assert refused.status_code == 422 and 'data-testid="error-allergy_status"' in refused.text
    other = await _member("邓超")
    response = await client.post(f"/counter/members/{other.member_no}/no-known-allergies", headers=headers)
    assert 'data-status="none"' in response.text


async def test_allergy_without_a_class_is_refused_next_to_the_field(client) -> None:
    view = await _member("杨幂")
    headers = await _counter(client)
    response = await client.post(
        f"/counter/members/{view.member_no}/allergies", data={"criticality": "high"}, headers=headers
    )
    assert response.status_code == 422
    assert 'data-testid="error-allergen_class"' in response.text
    rows = await fetch("SELECT COUNT(*) AS n FROM allergy")
    assert rows[0]["n"] == 0


async def test_registration_keeps_input_on_error_and_then_goes_to_the_health_step(client) -> None:
    headers = await _counter(client)
    form = await client.get("/counter/register", params={"code": "13911112222"}, headers=HX)
    assert 'value="13911112222"' in form.text  # the scanned phone is carried over
    bad = await client.post(
        "/counter/register",
        data={"name": "", "gender": "F", "birth_date": "1988-02-30", "phone": "13911112222"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert 'data-testid="error-name"' in bad.text and 'data-testid="error-birth_date"' in bad.text
    assert 'value="13911112222"' in bad.text and 'value="F" checked' in bad.text
    good = await client.post(
        "/counter/register",
        data={"name": "刘诗诗", "gender": "F", "birth_date": "1988-02-28", "phone": "13911112222"},
        headers=headers,
    )
    assert good.status_code == 200 and 'data-testid="registered"' in good.text
    assert 'data-step="2"' in good.text
    stored = await fetch("SELECT home_store FROM member WHERE name = '刘诗诗'")
    assert len(stored) == 1


async def test_panel_offers_the_card_and_links_the_verification_flag_to_the_details(client) -> None:
    view = await _member("周冬雨", "13512345678")
    headers = await _counter(client)
    html = (await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)).text
    assert f'href="/members/{view.member_no}/card"' in html and 'data-testid="print-card"' in html
    assert 'data-testid="verify-flag"' not in html
    old = datetime.now(UTC) - timedelta(days=400)
    await fetch("UPDATE member SET verified_at = {}, created_at = {} WHERE id = {}", old, old, view.id)
    html = (await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)).text
    assert re.search(rf'href="/members/{view.member_no}#sec-details"[^>]*data-testid="verify-flag"', html)


async def test_allergy_entry_without_health_consent_says_why(client) -> None:
    view = await _member("彭于晏")
    await fetch("UPDATE member SET consent_health = {} WHERE id = {}", False, view.id)
    headers = await _counter(client)
    response = await client.post(
        f"/counter/members/{view.member_no}/allergies",
        data={"allergen_class": "penicillins", "criticality": "high"},
        headers=headers,
    )
    assert response.status_code == 422 and 'data-testid="error-consent"' in response.text
    refused = await client.post(f"/counter/members/{view.member_no}/no-known-allergies", headers=headers)
    assert refused.status_code == 422 and 'data-testid="error-allergy_status"' in refused.text
    assert 'data-testid="no-health-consent"' in refused.text or 'data-gap="health"' in refused.text
    assert await fetch("SELECT id FROM allergy") == []


async def test_every_lookup_writes_an_audit_event_with_the_client_address(client) -> None:
    view = await _member("吴京")
    headers = await _counter(client, "clerk")
    for _ in range(3):
        await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    rows = await fetch(
        "SELECT username, role, client_addr, channel FROM audit_event WHERE action = 'allergy.view'"
        " AND username = 'clerk'"
    )
    assert len(rows) == 3
    assert rows[0] == {"username": "clerk", "role": "clerk", "client_addr": "127.0.0.1", "channel": "web"}


async def test_one_tap_health_consent_at_the_counter_then_allergies_can_be_recorded(client) -> None:
    view = await members.register(members.NewMember(name="许晴"), await actor())
    headers = await _counter(client)
    panel = await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    assert 'data-testid="consent-health-counter"' in panel.text
    assert 'data-testid="no-known-allergies"' not in panel.text
    refused = await client.post(f"/counter/members/{view.member_no}/no-known-allergies", headers=headers)
    assert refused.status_code == 422
    agreed = await client.post(f"/counter/members/{view.member_no}/consent-health", headers=headers)
    assert 'data-testid="no-known-allergies"' in agreed.text
    rows = await fetch("SELECT purpose, granted, channel FROM consent_event")
    assert [(r["purpose"], bool(r["granted"]), r["channel"]) for r in rows] == [("health_data", True, "counter")]
    recorded = await client.post(f"/counter/members/{view.member_no}/no-known-allergies", headers=headers)
    assert 'data-status="none"' in recorded.text


async def test_after_the_consent_tap_the_allergy_entry_is_open_and_a_risk_tap_saves(client) -> None:
    view = await members.register(members.NewMember(name="许晴"), await actor())
    headers = await _counter(client)
    await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    agreed = await client.post(f"/counter/members/{view.member_no}/consent-health", headers=headers)
    # The entry comes open with the consent: the allergen tile, then the risk — that tap saves.
    assert re.search(r'<details class="allergy-entry" open>', agreed.text)
    assert 'data-testid="allergy-form"' in agreed.text and 'data-testid="save-allergy-high"' in agreed.text
    assert 'type="submit" name="criticality" value="high"' in agreed.text
    saved = await client.post(
        f"/counter/members/{view.member_no}/allergies",
        data={"allergen_class": "penicillins", "criticality": "high"},
        headers=headers,
    )
    assert 'data-status="has_allergies"' in saved.text


async def test_an_allergy_recorded_while_the_cart_is_open_checks_it_again_and_drops_an_old_override(client) -> None:
    from app.components.sales import cart as carts
    from tests.components.sales.sale_data import gtin, make_products, stock_in
    from tests.routes.counter.test_sale import _at_tablet

    await make_products()
    await stock_in("YS90001", 5, "B1")
    await stock_in("YS90004", 5, "B1")
    view = await _member("张伟", status="penicillin")
    headers = await _counter(client)
    await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    await client.post("/counter/lookup", data={"code": gtin("YS90001")}, headers=headers)  # amoxicillin
    await client.post("/counter/lookup", data={"code": gtin("YS90004")}, headers=headers)  # aspirin
    done = await client.post("/counter/cart/override", data={"reason": "皮试阴性"}, headers=headers)
    assert 'data-testid="override-done"' in done.text

    # The member now says aspirin gave them hives: the cart comes back with the panel, checked again.
    recorded = await client.post(
        f"/counter/members/{view.member_no}/allergies",
        data={"allergen_class": "salicylates", "criticality": "high"},
        headers=headers,
    )
    assert 'id="cart" hx-swap-oob="innerHTML"' in recorded.text
    assert 'data-code="allergy_high"' in recorded.text and 'data-testid="override-done"' not in recorded.text
    assert not (await carts.current(await _at_tablet(client))).override.get("reason")


async def test_no_known_allergies_at_the_counter_brings_the_cart_back_checked(client) -> None:
    from tests.components.sales.sale_data import gtin, make_products, stock_in

    await make_products()
    await stock_in("YS90008", 5, "B1")
    view = await _member("赵敏")
    headers = await _counter(client)
    await client.post("/counter/lookup", data={"code": view.member_no}, headers=headers)
    asked = await client.post("/counter/lookup", data={"code": gtin("YS90008")}, headers=headers)
    assert 'data-level="ask"' in asked.text
    recorded = await client.post(f"/counter/members/{view.member_no}/no-known-allergies", headers=headers)
    assert 'id="cart" hx-swap-oob="innerHTML"' in recorded.text and 'data-level="ask"' not in recorded.text
