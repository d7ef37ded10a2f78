"""The health and vitals sections (htmx partials, 422 forms that keep input, audited views) and the JSON API."""

from __future__ import annotations

import re

from app.components import health, members
from app.components.audit import log as audit
from app.db import fetch
from tests.conftest import actor, api_headers, grant_health_consent, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "pharmacist") -> dict[str, str]:
    return {**HX, "x-csrftoken": await login(client, username)}


async def _member(name: str = "吴敏", consent: bool = True) -> str:
    view = await members.register(members.NewMember(name=name), await actor())
    if consent:
        await grant_health_consent(view.member_no)
    return view.member_no


def _value_of(html: str, name: str) -> str | None:
    match = re.search(rf'<input id="[^"]*" name="{name}" value="([^"]*)"', html)
    return match.group(1) if match else None


# ---------------------------------------------------------------- health section


async def test_health_section_is_a_partial_for_htmx_a_page_otherwise_and_audited(client) -> None:
    member_no = await _member()
    await members.add_allergy(
        member_no, members.NewAllergy(allergen_class="penicillins", criticality="high"), await actor()
    )
    await health.add_condition(member_no, health.NewCondition(code="hypertension"), await actor())
    headers = await _headers(client)
    before = await audit.count(health.HEALTH_VIEW)
    partial = await client.get(f"/members/{member_no}/health", headers=HX)
    assert partial.status_code == 200 and "<html" not in partial.text
    assert 'data-testid="health"' in partial.text and 'data-consent="yes"' in partial.text
    assert 'data-testid="allergy-row"' in partial.text and 'data-class="penicillins"' in partial.text
    assert 'data-code="hypertension"' in partial.text and 'data-source="declared"' in partial.text
    assert 'data-testid="condition-confirm"' in partial.text  # the pharmacist may confirm
    page = await client.get(f"/members/{member_no}/health")
    assert "<html" in page.text and 'id="sec-health"' in page.text
    assert await audit.count(health.HEALTH_VIEW) == before + 2
    row = (await fetch("SELECT username, member FROM audit_event WHERE action = 'health.view' ORDER BY id DESC"))[0]
    assert row == {"username": "pharmacist", "member": await members.member_id(member_no)}
    missing = await client.get("/members/8000009995/health", headers=headers)
    assert missing.status_code == 404 and "8000009995" in missing.text


async def test_without_consent_the_section_says_why_and_links_to_the_consents(client) -> None:
    member_no = await _member(consent=False)
    headers = await _headers(client)
    section = await client.get(f"/members/{member_no}/health", headers=HX)
    assert 'data-testid="consent-needed"' in section.text
    assert f'href="/members/{member_no}/consents"' in section.text
    assert 'data-testid="health-allergy-form"' not in section.text
    refused = await client.post(
        f"/members/{member_no}/health/allergies", data={"allergen_class": "penicillins"}, headers=headers
    )
    assert refused.status_code == 422 and 'data-testid="consent-needed"' in refused.text
    vitals = await client.post(
        f"/members/{member_no}/vitals", data={"kind": "weight", "weight_kg": "60"}, headers=headers
    )
    assert vitals.status_code == 422 and 'data-testid="consent-needed"' in vitals.text
    assert 'data-testid="vital-form-bp"' not in vitals.text
    assert (await fetch("SELECT COUNT(*) AS n FROM allergy"))[0]["n"] == 0
    assert (await fetch("SELECT COUNT(*) AS n FROM vital"))[0]["n"] == 0


async def test_two_tap_allergy_entry_and_status_changes_from_the_section(client) -> None:
    member_no = await _member()
    headers = await _headers(client)
    empty = await client.post(f"/members/{member_no}/health/allergies", data={"criticality": "high"}, headers=headers)
    assert empty.status_code == 422 and 'data-testid="error-allergen_class"' in empty.text
    assert 'value="high" checked' in empty.text  # the chosen risk is kept
    saved = await client.post(
        f"/members/{member_no}/health/allergies",
        data={"allergen_class": "penicillins", "criticality": "high"},
        headers=headers,
    )
    assert saved.status_code == 200 and 'data-class="penicillins"' in saved.text
    other = await client.post(
        f"/members/{member_no}/health/allergies", data={"allergen_class_other": "latex"}, headers=headers
    )
    assert 'data-class="latex"' in other.text
    allergy_id = (await fetch("SELECT id FROM allergy WHERE allergen_class = 'penicillins'"))[0]["id"]
    changed = await client.post(
        f"/members/{member_no}/health/allergy-status",
        data={"allergy_id": str(allergy_id), "change": "entered_in_error"},
        headers=headers,
    )
    assert changed.status_code == 200
    assert 'data-verification="entered-in-error"' in changed.text and 'data-testid="allergy-changed"' in changed.text
    assert "王药师" in changed.text
    bad = await client.post(
        f"/members/{member_no}/health/allergy-status",
        data={"allergy_id": str(allergy_id), "change": "resolve"},
        headers=headers,
    )
    assert bad.status_code == 422 and 'data-testid="error-change"' in bad.text


async def test_no_known_allergies_from_the_section(client) -> None:
    member_no = await _member()
    headers = await _headers(client)
    response = await client.post(f"/members/{member_no}/health/no-known-allergies", headers=headers)
    assert response.status_code == 200 and 'data-status="none"' in response.text


async def test_condition_form_keeps_input_on_error_and_pharmacist_confirms(client) -> None:
    member_no = await _member()
    headers = await _headers(client, "clerk")
    bad = await client.post(
        f"/members/{member_no}/health/conditions",
        data={"code": "diabetes", "onset": "soon", "note": "二型"},
        headers=headers,
    )
    assert bad.status_code == 422 and 'data-testid="error-onset"' in bad.text
    assert 'value="diabetes" checked' in bad.text and 'value="二型"' in bad.text and 'value="soon"' in bad.text
    assert '<details class="health-entry" open>' in bad.text
    saved = await client.post(
        f"/members/{member_no}/health/conditions", data={"code_other": "gout", "onset": "2019-06"}, headers=headers
    )
    assert saved.status_code == 200 and 'data-code="gout"' in saved.text
    assert 'data-testid="condition-confirm"' not in saved.text  # clerks do not confirm
    condition_id = (await fetch("SELECT id FROM member_condition"))[0]["id"]
    forbidden = await client.post(
        f"/members/{member_no}/health/conditions/confirm", data={"condition_id": condition_id}, headers=headers
    )
    assert forbidden.status_code == 403

    await client.post("/logout", headers=headers)
    headers = await _headers(client, "pharmacist")
    confirmed = await client.post(
        f"/members/{member_no}/health/conditions/confirm", data={"condition_id": condition_id}, headers=headers
    )
    assert confirmed.status_code == 200 and 'data-source="confirmed"' in confirmed.text
    resolved = await client.post(
        f"/members/{member_no}/health/conditions/resolve", data={"condition_id": condition_id}, headers=headers
    )
    assert 'data-testid="condition-resolved"' in resolved.text and 'data-testid="no-conditions"' in resolved.text


async def test_plain_form_posts_go_back_to_the_profile(client) -> None:
    member_no = await _member()
    token = await login(client, "pharmacist")
    response = await client.post(
        f"/members/{member_no}/health/conditions",
        data={"code": "asthma_copd", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/members/{member_no}#sec-health"


async def test_preference_tags_add_and_remove(client) -> None:
    member_no = await _member(consent=False)
    headers = await _headers(client, "service")
    added = await client.post(
        f"/members/{member_no}/health/preferences", data={"kind": "dosage_form", "value": "granules"}, headers=headers
    )
    assert added.status_code == 200
    assert 'data-testid="pref-tag" data-kind="dosage_form" data-value="granules"' in added.text
    brand = await client.post(
        f"/members/{member_no}/health/preferences", data={"kind": "brand", "value": "x" * 61}, headers=headers
    )
    assert brand.status_code == 422 and 'data-testid="error-preference_value"' in brand.text
    assert "x" * 61 in brand.text  # the typed brand is kept
    removed = await client.post(
        f"/members/{member_no}/health/preferences",
        data={"kind": "dosage_form", "value": "granules", "action": "remove"},
        headers=headers,
    )
    assert 'data-testid="pref-tag"' not in removed.text


# ---------------------------------------------------------------- vitals section


async def test_vitals_form_errors_keep_every_typed_value(client) -> None:
    member_no = await _member()
    headers = await _headers(client)
    response = await client.post(
        f"/members/{member_no}/vitals",
        data={"kind": "bp", "systolic": "300", "diastolic": "80", "pulse": "70"},
        headers=headers,
    )
    assert response.status_code == 422 and "<html" not in response.text
    assert 'data-testid="error-systolic"' in response.text
    assert _value_of(response.text, "systolic") == "300" and _value_of(response.text, "diastolic") == "80"
    assert _value_of(response.text, "pulse") == "70"
    glucose = await client.post(
        f"/members/{member_no}/vitals", data={"kind": "glucose", "glucose": "6.2"}, headers=headers
    )
    assert glucose.status_code == 422 and 'data-testid="error-glucose_context"' in glucose.text
    assert _value_of(glucose.text, "glucose") == "6.2"


async def test_recorded_readings_are_flagged_charted_and_give_a_bmi(client) -> None:
    member_no = await _member()
    headers = await _headers(client)
    for data in (
        {"kind": "bp", "systolic": "152", "diastolic": "94", "pulse": "80"},
        {"kind": "bp", "systolic": "124", "diastolic": "78"},
        {"kind": "glucose", "glucose": "7.4", "glucose_context": "fasting"},
        {"kind": "weight", "weight_kg": "80"},
        {"kind": "height", "height_cm": "170"},
    ):
        response = await client.post(f"/members/{member_no}/vitals", data=data, headers=headers)
        assert response.status_code == 200, response.text
    html = response.text
    assert 'data-testid="bmi" data-value="27.7" data-category="overweight"' in html
    assert 'data-testid="latest-glucose-fasting" data-flag="high"' in html
    assert 'data-testid="latest-bp" data-flag=""' in html  # the latest BP is normal
    assert html.count('data-testid="vital-row"') == 5
    assert 'data-kind="bp" data-flag="high"' in html
    assert '<svg viewBox="0 0 720 280"' in html
    assert 'data-testid="chart-bp" data-points="4"' in html and 'data-testid="chart-glucose" data-points="1"' in html
    assert 'data-testid="reference" data-value="140"' in html and 'data-testid="reference" data-value="90"' in html
    assert "<polyline" in html


async def test_the_vitals_view_is_audited(client) -> None:
    member_no = await _member()
    await _headers(client, "clerk")
    before = await audit.count(health.VITALS_VIEW)
    response = await client.get(f"/members/{member_no}/vitals", headers=HX)
    assert response.status_code == 200 and 'data-testid="vitals"' in response.text
    assert await audit.count(health.VITALS_VIEW) == before + 1
    row = (await fetch("SELECT username, action FROM audit_event ORDER BY id DESC"))[0]
    assert row == {"username": "clerk", "action": "vitals.view"}


async def test_the_profile_loads_the_health_and_vitals_sections(client) -> None:
    member_no = await _member()
    await _headers(client)
    page = await client.get(f"/members/{member_no}")
    assert f'hx-get="/members/{member_no}/health"' in page.text
    assert f'hx-get="/members/{member_no}/vitals"' in page.text


# ---------------------------------------------------------------- API


async def test_api_vitals_201_422_404(client) -> None:
    headers = await api_headers()
    member_no = await _member()
    created = await client.post(
        f"/api/v1/members/{member_no}/vitals",
        json={"kind": "bp", "systolic": 145, "diastolic": 88, "measured_at": "2026-01-05T08:30"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    (reading,) = created.json()["vitals"]
    assert (reading["systolic"], reading["flag"], reading["source"]) == (145, "high", "api")
    assert reading["measured_at"].startswith("2026-01-05T00:30:00")
    both = await client.post(
        f"/api/v1/members/{member_no}/vitals", json={"weight_kg": 62.5, "height_cm": "160"}, headers=headers
    )
    assert both.status_code == 201 and both.json()["bmi"] == {"value": 24.4, "category": "overweight"}
    bad = await client.post(
        f"/api/v1/members/{member_no}/vitals", json={"kind": "glucose", "glucose": 70}, headers=headers
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"glucose", "glucose_context"}
    missing = await client.post("/api/v1/members/8000009995/vitals", json={"weight_kg": 60}, headers=headers)
    assert missing.status_code == 404 and "8000009995" in missing.json()["errors"][0]["message"]
    no_consent = await _member("没同意", consent=False)
    refused = await client.post(f"/api/v1/members/{no_consent}/vitals", json={"weight_kg": 60}, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent"


async def test_api_conditions_201_422_404(client) -> None:
    headers = await api_headers()
    member_no = await _member()
    created = await client.post(
        f"/api/v1/members/{member_no}/conditions", json={"code": "diabetes", "onset": "2015"}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["source"], body["onset"], body["status"]) == (
        "diabetes",
        "declared",
        "2015-01-01",
        "active",
    )
    unknown = await client.post(f"/api/v1/members/{member_no}/conditions", json={"code": "vampirism"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "code"
    missing = await client.post("/api/v1/members/8000009995/conditions", json={"code": "gout"}, headers=headers)
    assert missing.status_code == 404
    no_consent = await _member("没同意", consent=False)
    refused = await client.post(f"/api/v1/members/{no_consent}/conditions", json={"code": "gout"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent"


async def test_api_timeline_lists_events_newest_first_and_is_audited(client) -> None:
    headers = await api_headers()
    member_no = await _member()
    await health.add_condition(member_no, health.NewCondition(code="gout"), await actor())
    await health.record_vital(member_no, health.NewVital(weight_kg="70"), await actor())
    before = await audit.count(health.TIMELINE_VIEW)
    response = await client.get(f"/api/v1/members/{member_no}/timeline", headers=headers)
    assert response.status_code == 200
    events = response.json()["events"]
    assert [e["kind"] for e in events][:3] == ["vital", "condition", "consent"]
    assert events[0]["staff"] == "王药师" and events[0]["at"]
    assert await audit.count(health.TIMELINE_VIEW) == before + 1
    limited = await client.get(f"/api/v1/members/{member_no}/timeline?limit=1", headers=headers)
    assert len(limited.json()["events"]) == 1
    missing = await client.get("/api/v1/members/8000009995/timeline", headers=headers)
    assert missing.status_code == 404
