"""Care journey pages through the real application: build with a live count, save, version, switch, read numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.components import care, coupons
from app.db import fetch
from app.i18n import use_language
from tests.components.care import care_data as cd
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


def _form(**overrides: str) -> dict[str, str]:
    return {
        "name_zh": "降压新药关怀",
        "name_en": "New BP medicine care",
        "purpose": "care",
        "trigger": "purchase",
        "p_atc_prefix": "C08",
        "p_category": "",
        "holdout_pct": "10",
        "s0_action": "message",
        "s0_after_days": "3",
        "s0_at": "10:00",
        "s0_template": "usage_note",
        **overrides,
    }


async def test_admin_builds_a_journey_with_a_live_count_saves_it_and_switches_it_on(client) -> None:
    amlo = await cd.product("AMLO", atc="C08CA01")
    for i in range(2):
        await cd.sale(await cd.member(f"买{i}"), amlo, datetime.now(UTC) - timedelta(days=1))
    token = await login(client, "admin")
    page = await client.get("/manager/journeys/new")
    assert page.status_code == 200 and 'data-testid="journey-form"' in page.text
    count = await client.post("/manager/journeys/preview", data=_form(), headers={**HX, "x-csrftoken": token})
    assert count.status_code == 200 and "：2" in count.text  # zh-CN, the default language
    added = await client.post(
        "/manager/journeys/draft", data={**_form(), "op": "add_step"}, headers={**HX, "x-csrftoken": token}
    )
    assert 'data-testid="step-1"' in added.text and 'value="降压新药关怀"' in added.text  # nothing typed is lost
    # Adding a step does not wait for the count: the redrawn builder counts itself in its own request.
    assert 'aria-busy="true"' in added.text and 'hx-post="/manager/journeys/preview" hx-trigger="load"' in added.text
    assert "：2" not in added.text
    saved = await client.post(
        "/manager/journeys",
        data=_form(s1_action="task", s1_after_days="30", s1_at="10:00", s1_task_kind="follow_up_call"),
        headers={**HX, "x-csrftoken": token},
    )
    assert saved.status_code == 200, saved.text
    url = saved.headers["HX-Redirect"]
    code = url.rsplit("/", 1)[1]
    journey = await care.journey(code)
    assert not journey["active"] and len(journey["steps"]) == 2 and journey["holdout_pct"] == 10
    switched = await client.post(f"{url}/switch", data={"on": "1"}, headers={**HX, "x-csrftoken": token})
    assert switched.status_code == 200
    assert (await care.journey(code))["active"]
    audit = await fetch("SELECT action FROM audit_event WHERE action LIKE 'journey.%' ORDER BY id")
    assert [a["action"] for a in audit] == ["journey.save", "journey.switch"]
    shown = await client.get(url)
    assert 'data-testid="switch-off"' in shown.text and 'data-testid="journey-comparison"' in shown.text


async def test_bad_fields_are_shown_next_to_them_and_nothing_typed_is_lost(client) -> None:
    token = await login(client, "admin")
    with use_language("en"):
        bad = await client.post(
            "/manager/journeys",
            data=_form(p_atc_prefix="C0!8", s0_after_days="999", s0_at="25:00", s0_template="nope"),
            headers={**HX, "x-csrftoken": token, "Accept-Language": "en"},
        )
    assert bad.status_code == 422
    for field in ("p_atc_prefix", "s0_after_days", "s0_at", "s0_template"):
        assert f'data-testid="error-{field}"' in bad.text, field
    assert 'value="降压新药关怀"' in bad.text and 'value="C0!8"' in bad.text
    assert (await fetch("SELECT COUNT(*) AS n FROM journey"))[0]["n"] == 0


async def test_a_marketing_journey_may_not_create_tasks(client) -> None:
    token = await login(client, "admin")
    bad = await client.post(
        "/manager/journeys",
        data=_form(purpose="marketing", s0_action="task", s0_task_kind="follow_up_call"),
        headers={**HX, "x-csrftoken": token},
    )
    assert bad.status_code == 422 and 'data-testid="error-purpose"' in bad.text


async def test_a_message_template_of_another_purpose_is_refused_next_to_the_step(client) -> None:
    token = await login(client, "admin")
    await client.post("/language", data={"language": "en", "next": "/manager/journeys"}, headers={"x-csrftoken": token})
    bad = await client.post(
        "/manager/journeys",
        data=_form(s0_template="birthday"),  # a marketing message in a care journey
        headers={**HX, "x-csrftoken": token},
    )
    assert bad.status_code == 422 and 'data-testid="error-s0_template"' in bad.text
    assert "for Marketing messages, not for a Care journey" in bad.text
    assert (await fetch("SELECT COUNT(*) AS n FROM journey"))[0]["n"] == 0
    fine = await client.post(
        "/manager/journeys",
        data=_form(purpose="marketing", s0_template="birthday"),
        headers={**HX, "x-csrftoken": token},
    )
    assert fine.status_code == 200, fine.text


async def test_every_built_in_journey_passes_the_builders_rules() -> None:
    await coupons.seed_demo_coupons()
    known = await care.known()
    for code, d in care.BUILTIN.items():
        parsed, errors = care.parse_definition(care.to_form(d), known)
        assert errors == {}, code
        assert parsed == d, code


async def test_a_new_version_keeps_the_old_one_and_its_enrolments(client) -> None:
    await coupons.seed_demo_coupons()
    token = await login(client, "admin")
    saved = await client.post("/manager/journeys", data=_form(), headers={**HX, "x-csrftoken": token})
    url = saved.headers["HX-Redirect"]
    code = url.rsplit("/", 1)[1]
    again = await client.post(
        url, data={**_form(s0_coupon="REFILL5"), "code": code}, headers={**HX, "x-csrftoken": token}
    )
    assert again.status_code == 200, again.text
    versions = await care.versions(code)
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["steps"][0]["coupon"] == "REFILL5" and versions[1]["steps"][0]["coupon"] == ""


async def test_managers_read_the_list_and_a_journey_but_only_hq_admins_edit(client) -> None:
    await care.seed_builtin_journeys(active=True)
    await login(client, "manager")
    listing = await client.get("/manager/journeys")
    assert listing.status_code == 200 and 'data-code="hypertension_refill"' in listing.text
    assert 'data-testid="new-journey"' not in listing.text
    page = await client.get("/manager/journeys/hypertension_refill")
    assert page.status_code == 200 and 'data-testid="journey-form"' not in page.text
    assert 'data-testid="switch-on"' not in page.text and 'data-testid="switch-off"' not in page.text
    missing = await client.get("/manager/journeys/nothing")
    assert missing.status_code == 404 and "nothing" in missing.text


async def test_the_journeys_api_lists_every_journey_with_its_steps(client) -> None:
    await care.seed_builtin_journeys(active=True)
    response = await client.get("/api/v1/journeys", headers=await api_headers("analyst"))
    assert response.status_code == 200
    journeys = {j["code"]: j for j in response.json()["journeys"]}
    refill = journeys["diabetes_refill"]
    assert refill["trigger"] == "refill_due" and refill["trigger_params"]["lead_days"] == 5
    assert refill["steps"][0]["coupon"] == "REFILL5" and refill["active"]
    forbidden = await client.get("/api/v1/journeys", headers=await api_headers("pharmacist"))
    assert forbidden.status_code == 403
