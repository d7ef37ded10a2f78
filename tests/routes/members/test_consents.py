"""The consents section: state per purpose, grant and withdraw buttons, the history, errors."""

from __future__ import annotations

from app.components import members
from app.components.audit import log as audit
from app.components.consents import records as consents
from app.db import fetch
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "clerk") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _member() -> members.MemberView:
    return await members.register(members.NewMember(name="冯蕾"), await actor())


async def test_the_section_shows_every_purpose_never_asked_and_is_audited(client) -> None:
    member = await _member()
    headers = await _headers(client)
    response = await client.get(f"/members/{member.member_no}/consents", headers=headers)
    assert response.status_code == 200 and "<html" not in response.text
    for purpose in consents.ALL_PURPOSES:  # the message purposes too (drug names in SMS, care reminders)
        assert f'data-testid="consent-{purpose}"' in response.text
        assert f'data-testid="grant-{purpose}"' in response.text
    assert response.text.count('data-state="never"') == len(consents.ALL_PURPOSES)
    assert await audit.count(consents.CONSENT_VIEW) == 1


async def test_grant_and_withdraw_from_the_section(client) -> None:
    member = await _member()
    headers = await _headers(client)
    url = f"/members/{member.member_no}/consents"
    response = await client.post(url, data={"purpose": "marketing_sms", "action": "grant"}, headers=headers)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "consentChanged"
    html = response.text
    assert 'data-testid="consent-marketing_sms" data-state="granted"' in " ".join(html.split())
    assert 'data-testid="withdraw-marketing_sms"' in html
    assert "李店员" in html and consents.TEXT_VERSION in html  # who, and which text
    response = await client.post(url, data={"purpose": "marketing_sms", "action": "withdraw"}, headers=headers)
    html = " ".join(response.text.split())
    assert 'data-testid="consent-marketing_sms" data-state="withdrawn"' in html
    assert html.count('data-testid="consent-event"') == 2
    rows = await fetch("SELECT granted FROM consent_event ORDER BY id")
    assert [bool(r["granted"]) for r in rows] == [True, False]


async def test_bad_input_is_a_422_with_the_message_in_the_section(client) -> None:
    member = await _member()
    headers = await _headers(client)
    url = f"/members/{member.member_no}/consents"
    response = await client.post(url, data={"purpose": "spam", "action": "grant"}, headers=headers)
    assert response.status_code == 422
    assert 'data-testid="error-purpose"' in response.text and 'id="consents-section"' in response.text
    response = await client.post(url, data={"purpose": "health_data", "action": "maybe"}, headers=headers)
    assert response.status_code == 422 and 'data-testid="error-action"' in response.text
    assert await fetch("SELECT id FROM consent_event") == []


async def test_without_htmx_a_post_returns_to_the_profile_and_the_url_is_a_page(client) -> None:
    member = await _member()
    token = await login(client, "pharmacist")
    url = f"/members/{member.member_no}/consents"
    response = await client.post(
        url, data={"purpose": "health_data", "action": "grant", "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"/members/{member.member_no}"
    page = await client.get(url)
    assert page.status_code == 200 and "<html" in page.text and 'data-state="granted"' in page.text


async def test_unknown_member_is_a_404_naming_the_number(client) -> None:
    headers = await _headers(client)
    response = await client.get("/members/8000009995/consents", headers=headers)
    assert response.status_code == 404 and "8000009995" in response.text
