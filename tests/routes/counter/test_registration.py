"""Registration at the counter in three steps, likely duplicates before saving, and continuing later."""

from __future__ import annotations

import re

from app.components import members
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


def _member_no(html: str) -> str:
    match = re.search(r"/counter/register/(\d{10})/", html)
    assert match, html
    return match.group(1)


BASIC = {
    "name": "刘诗诗",
    "gender": "F",
    "birth_date": "1987-03-10",
    "phone": "13911112222",
    "address": "上海市徐汇区漕溪北路 18 号",
    "id_number": "",
    "member_class": "member",
}


async def test_register_in_three_steps(client, staff_ids) -> None:
    headers = await _headers(client)
    form = await client.get("/counter/register", params={"code": "139 1111 2222"}, headers=HX)
    assert form.status_code == 200 and "<html" not in form.text
    assert 'data-step="1"' in form.text and 'value="139 1111 2222"' in form.text
    assert "居民身份证号（选填）" in form.text and "身份证号留空" not in form.text
    # The pharmacist registering is proposed as the responsible pharmacist.
    assert f'<option value="{staff_ids["pharmacist"]}" selected>' in form.text

    step1 = await client.post(
        "/counter/register", data={**BASIC, "responsible_pharmacist": str(staff_ids["pharmacist"])}, headers=headers
    )
    assert step1.status_code == 200, step1.text
    assert 'data-step="2"' in step1.text and 'data-testid="registered"' in step1.text
    member_no = _member_no(step1.text)

    step2 = await client.post(
        f"/counter/register/{member_no}/health",
        data={
            "consent_health": "1",
            "allergy_status": "has_allergies",
            "allergen_class": "penicillins",
            "other_class": "",
            "criticality": "high",
            "conditions": ["hypertension", "gout"],
            "height_cm": "165",
            "weight_kg": "58.5",
        },
        headers=headers,
    )
    assert step2.status_code == 200, step2.text
    assert 'data-step="3"' in step2.text and 'data-testid="health-declined"' not in step2.text

    step3 = await client.post(
        f"/counter/register/{member_no}/preferences",
        data={
            "marketing_sms": "1",
            "kiosk_display": "1",
            "brand": "同仁堂，云南白药",
            "dosage_form": ["tablet", "capsule"],
            "channel": "wechat",
            "contact_time": "evening",
        },
        headers=headers,
    )
    assert step3.status_code == 200, step3.text
    html = step3.text
    assert 'data-testid="registration-saved"' in html and f'data-member-no="{member_no}"' in html
    assert 'data-status="has_allergies"' in html and 'data-class="penicillins"' in html
    assert 'data-testid="registration-gaps"' not in html

    view = await members.get_member(member_no, await actor())
    assert (view.name, view.birth_date.isoformat(), view.phone_masked) == ("刘诗诗", "1987-03-10", "139****2222")
    assert view.responsible_pharmacist == staff_ids["pharmacist"] and view.gaps == []
    consents = await fetch(
        "SELECT purpose, granted, channel, staff FROM consent_event WHERE member = {} ORDER BY purpose", view.id
    )
    assert [(c["purpose"], bool(c["granted"])) for c in consents] == [
        ("health_data", True),
        ("kiosk_display", True),
        ("marketing_sms", True),
        ("marketing_wechat", False),
    ]
    assert {(c["channel"], c["staff"]) for c in consents} == {("counter", staff_ids["pharmacist"])}
    conditions = await fetch("SELECT code FROM member_condition WHERE member = {} ORDER BY code", view.id)
    assert [c["code"] for c in conditions] == ["gout", "hypertension"]
    vitals = await fetch("SELECT kind, height_cm, weight_kg FROM vital WHERE member = {} ORDER BY kind", view.id)
    assert [(v["kind"], v["height_cm"] or v["weight_kg"]) for v in vitals] == [("height", 165), ("weight", 58.5)]
    tags = await fetch("SELECT kind, value FROM member_preference WHERE member = {} ORDER BY kind, value", view.id)
    assert [(t["kind"], t["value"]) for t in tags] == [
        ("brand", "云南白药"),
        ("brand", "同仁堂"),
        ("channel", "wechat"),
        ("contact_time", "evening"),
        ("dosage_form", "capsule"),
        ("dosage_form", "tablet"),
    ]
    kinds = [e["kind"] for e in await fetch("SELECT kind FROM member_event WHERE member = {}", view.id)]
    assert kinds[0] == "registered" and "consent" in kinds


async def test_step_one_errors_keep_every_value(client) -> None:
    headers = await _headers(client)
    bad = await client.post(
        "/counter/register",
        data={
            **BASIC,
            "name": "",
            "birth_date": "1988-02-30",
            "id_number": "110105194912310021",
            "member_class": "key_account",
            "organisation": "",
        },
        headers=headers,
    )
    assert bad.status_code == 422
    for name in ("name", "birth_date", "id_number", "organisation"):
        assert f'data-testid="error-{name}"' in bad.text
    assert 'value="13911112222"' in bad.text and 'value="F" checked' in bad.text
    assert 'value="110105194912310021"' in bad.text and 'value="key_account" checked' in bad.text
    assert "漕溪北路 18 号" in bad.text
    assert await fetch("SELECT id FROM member") == []


async def test_likely_duplicates_are_shown_before_saving(client) -> None:
    existing = await members.register(
        members.NewMember(name="刘诗诗", phone="13911112222", birth_date="1987-03-10"), await actor()
    )
    headers = await _headers(client)
    response = await client.post("/counter/register", data=BASIC, headers=headers)
    assert response.status_code == 409
    html = response.text
    assert 'data-testid="duplicates"' in html and f'data-member-no="{existing.member_no}"' in html
    # "The same person — open them" goes through the scan route: at a selling counter they become the customer.
    assert f'hx-post="/counter/lookup" hx-vals=\'{{"code": "{existing.member_no}"}}\'' in html
    assert 'data-testid="register-anyway"' in html
    assert 'value="上海市徐汇区漕溪北路 18 号"' in html  # what was typed is still there
    assert len(await fetch("SELECT id FROM member")) == 1

    opened = await client.get(f"/counter/members/{existing.member_no}", headers=HX)
    assert f'data-member-no="{existing.member_no}"' in opened.text

    anyway = await client.post("/counter/register", data={**BASIC, "confirm_duplicates": "1"}, headers=headers)
    assert anyway.status_code == 200 and 'data-step="2"' in anyway.text
    assert len(await fetch("SELECT id FROM member")) == 2


async def test_duplicate_by_resident_id(client) -> None:
    existing = await members.register(members.NewMember(name="张伟", id_number="11010519491231002X"), await actor())
    headers = await _headers(client)
    response = await client.post(
        "/counter/register",
        data={"name": "张 伟", "gender": "M", "id_number": "11010519491231002x"},
        headers=headers,
    )
    assert response.status_code == 409 and existing.member_no in response.text


async def test_stop_after_step_one_and_the_panel_says_what_is_missing(client) -> None:
    headers = await _headers(client, "clerk")
    step1 = await client.post("/counter/register", data={"name": "马伊琍", "gender": "F"}, headers=headers)
    member_no = _member_no(step1.text)
    panel = await client.post("/counter/lookup", data={"code": member_no}, headers=headers)
    html = panel.text
    assert 'data-testid="registration-gaps"' in html
    gaps = re.findall(r'data-gap="(\w+)"', html)
    assert gaps == ["birth_date", "phone", "health", "consents"]
    with use_language("en"):
        assert [members.gap_label(g) for g in gaps[2:]] == [
            "Health step not done",
            "No consent recorded for marketing messages or the kiosk",
        ]
    assert f'hx-get="/counter/register/{member_no}/health"' in html
    assert 'data-testid="complete-details"' in html

    # Next visit: continue with the health step.
    step2 = await client.get(f"/counter/register/{member_no}/health", headers=HX)
    assert step2.status_code == 200 and 'data-step="2"' in step2.text
    # The member declines consent to health data: recorded, nothing stored, step 3 says so.
    declined = await client.post(f"/counter/register/{member_no}/health", data={}, headers=headers)
    assert declined.status_code == 200 and 'data-testid="health-declined"' in declined.text
    panel = await client.get(f"/counter/members/{member_no}", headers=HX)
    assert re.findall(r'data-gap="(\w+)"', panel.text) == ["birth_date", "phone", "consents"]
    assert f'hx-get="/counter/register/{member_no}/preferences"' in panel.text
    assert 'data-testid="no-health-consent"' in panel.text


async def test_health_data_without_consent_is_refused_with_the_reason_and_kept(client) -> None:
    headers = await _headers(client)
    step1 = await client.post("/counter/register", data={"name": "黄渤"}, headers=headers)
    member_no = _member_no(step1.text)
    response = await client.post(
        f"/counter/register/{member_no}/health",
        data={"allergy_status": "none", "conditions": "diabetes", "weight_kg": "80"},
        headers=headers,
    )
    assert response.status_code == 422
    assert 'data-testid="error-consent"' in response.text
    assert 'value="diabetes" checked' in response.text and 'value="80"' in response.text
    assert 'value="none" checked' in response.text
    for table in ("consent_event", "member_condition", "vital"):
        assert await fetch(f"SELECT id FROM {table}") == []


async def test_health_step_errors_stay_next_to_the_fields(client) -> None:
    headers = await _headers(client)
    member_no = _member_no((await client.post("/counter/register", data={"name": "黄磊"}, headers=headers)).text)
    response = await client.post(
        f"/counter/register/{member_no}/health",
        data={"consent_health": "1", "allergy_status": "has_allergies", "height_cm": "1.70"},
        headers=headers,
    )
    assert response.status_code == 422
    assert 'data-testid="error-allergen_class"' in response.text and 'data-testid="error-height_cm"' in response.text
    assert 'data-testid="consent-health" checked' in response.text
    assert await fetch("SELECT id FROM consent_event") == []


async def test_preferences_step_rejects_unknown_values(client) -> None:
    headers = await _headers(client)
    member_no = _member_no((await client.post("/counter/register", data={"name": "孙红雷"}, headers=headers)).text)
    page = await client.get(f"/counter/register/{member_no}/preferences", headers=HX)
    assert 'data-step="3"' in page.text
    response = await client.post(
        f"/counter/register/{member_no}/preferences",
        data={"marketing_sms": "1", "channel": "carrier_pigeon", "brand": "同仁堂"},
        headers=headers,
    )
    assert response.status_code == 422 and 'data-testid="error-channel"' in response.text
    assert 'value="同仁堂"' in response.text and 'data-testid="consent-marketing_sms" checked' in response.text
    assert await fetch("SELECT id FROM consent_event") == []


async def test_unknown_member_in_a_step_is_404(client) -> None:
    await _headers(client)
    response = await client.get("/counter/register/8000009995/health", headers=HX)
    assert response.status_code == 404 and "8000009995" in response.text


async def test_health_step_takes_a_class_from_the_other_list(client) -> None:
    headers = await _headers(client)
    member_no = _member_no((await client.post("/counter/register", data={"name": "邓超"}, headers=headers)).text)
    response = await client.post(
        f"/counter/register/{member_no}/health",
        data={"consent_health": "1", "allergy_status": "has_allergies", "other_class": "iodinated_contrast"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    rows = await fetch("SELECT allergen_class, criticality FROM allergy")
    assert rows == [{"allergen_class": "iodinated_contrast", "criticality": "unable-to-assess"}]


async def _sulfonamide_product() -> str:
    """A sulfonamide antibiotic (OTC here, so no prescription step stands between it and Pay); returns its EAN."""
    from app.components.scanning import synthetic_gtin13
    from tests.components.sales.sale_data import stock_in

    rows = await fetch(
        "INSERT INTO product (sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance,"
        " rx_class, category_l1, category_l2, form, price, pack_units, units_per_day, cold_chain, dtp,"
        " points_excluded, knowledge, active, created_at, updated_at)"
        " VALUES ('YS90020', '复方磺胺甲噁唑片', 'co-trimoxazole', '复方磺胺甲噁唑', 'co-trimoxazole', 'J01EE01',"
        " 'sulfonamide_antibiotics', 'sulfamethoxazole', 'OTC', '', '', 'tablet', 1200, 24, 4, {}, {}, {}, {}, {},"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id",
        False,
        False,
        False,
        "{}",
        True,
    )
    code = synthetic_gtin13(90020)
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'gtin')", "0" + code, rows[0]["id"])
    await stock_in("YS90020", 10, "B-SULFA")
    return code


def _pay_disabled(html: str) -> bool:
    match = re.search(r'<button class="btn btn-primary btn-pay[^>]*>', html)
    assert match, "no Pay button"
    return "disabled" in match.group(0)


async def test_a_member_registered_at_the_counter_is_the_sales_customer_and_their_allergy_is_checked(client) -> None:
    code = await _sulfonamide_product()
    headers = await _headers(client)
    scanned = await client.post("/counter/lookup", data={"code": code}, headers=headers)  # a walk-in sale so far
    assert 'data-testid="cart-walk-in"' in scanned.text and not _pay_disabled(scanned.text)

    step1 = await client.post("/counter/register", data=BASIC, headers=headers)
    member_no = _member_no(step1.text)
    # The cart comes along (out of band): its customer is the member just registered.
    assert 'id="cart" hx-swap-oob="innerHTML"' in step1.text
    assert f'data-testid="cart-member" data-member-no="{member_no}"' in step1.text

    step2 = await client.post(
        f"/counter/register/{member_no}/health",
        data={
            "consent_health": "1",
            "allergy_status": "has_allergies",
            "allergen_class": "sulfonamide_antibiotics",
            "criticality": "high",
        },
        headers=headers,
    )
    assert step2.status_code == 200 and 'data-step="3"' in step2.text
    # What the member just said is checked against the line at once: a high alert, and Pay waits for an override.
    assert 'data-kind="allergy" data-level="high"' in step2.text and 'data-code="allergy_high"' in step2.text
    assert _pay_disabled(step2.text)
    key = re.search(r'name="key" value="([0-9a-f]+)"', step2.text).group(1)
    refused = await client.post("/counter/checkout", data={"key": key, "kind": "cash"}, headers=headers)
    assert refused.status_code == 409 and await fetch("SELECT id FROM sale") == []

    step3 = await client.post(f"/counter/register/{member_no}/preferences", data={}, headers=headers)
    assert 'data-testid="registration-saved"' in step3.text and 'data-code="allergy_high"' in step3.text


async def test_registering_while_the_cart_holds_another_members_lines_asks_whom_the_sale_is_for(client) -> None:
    code = await _sulfonamide_product()
    other = await members.register(members.NewMember(name="张伟"), await actor())
    headers = await _headers(client)
    await client.post("/counter/lookup", data={"code": other.member_no}, headers=headers)
    await client.post("/counter/lookup", data={"code": code}, headers=headers)
    step1 = await client.post("/counter/register", data=BASIC, headers=headers)
    assert 'data-testid="member-switch"' in step1.text and "张伟" in step1.text
    assert f'data-testid="cart-member" data-member-no="{other.member_no}"' in step1.text
