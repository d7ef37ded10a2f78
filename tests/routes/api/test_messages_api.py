"""`POST /api/v1/messages/inbound`: a STOP reply opts the member out at once; an unknown phone is a 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.components import consents, members, messages
from app.db import transaction
from tests.conftest import actor, api_headers

MORNING = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)


async def _member_with_queue(phone: str) -> tuple[members.MemberView, dict[str, str]]:
    member = await members.register(members.NewMember(name="钱敏", phone=phone), await actor())
    keys = {}
    async with transaction():
        for purpose in (consents.MARKETING_SMS, consents.HEALTH_DATA):
            await consents.set_consent(member.id, purpose, True, await actor())
        for purpose, template in (("marketing", "birthday"), ("care", "refill_reminder"), ("service", "welcome")):
            keys[purpose] = f"t:{uuid.uuid4().hex}"
            await messages.queue_member_message(keys[purpose], member.id, None, purpose, template, {}, MORNING)
    return member, keys


@pytest.mark.parametrize("text", ["STOP", " stop ", "退订", "td", "T"])
async def test_a_stop_reply_opts_out_and_cancels_queued_marketing_and_care(client, text: str) -> None:
    member, keys = await _member_with_queue("13800138010")
    response = await client.post(
        "/api/v1/messages/inbound", json={"phone": "138 0013 8010", "text": text}, headers=await api_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"member_nos": [member.member_no], "opted_out": True, "cancelled": 2}
    state = await consents.current(member.id)
    assert state[consents.MARKETING_SMS].granted is False
    assert state[consents.MARKETING_SMS].channel == "sms"
    assert state[consents.CARE_MESSAGES].granted is False
    for purpose, status in (("marketing", "suppressed"), ("care", "suppressed"), ("service", "queued")):
        found = await messages.message_by_key(keys[purpose])
        assert found is not None and found.status == status
        if status == "suppressed":
            assert found.reason == "opted_out"
    # A care message queued later is not sent either: the member turned care reminders off.
    later = f"t:{uuid.uuid4().hex}"
    async with transaction():
        await messages.queue_member_message(later, member.id, None, "care", "refill_reminder", {}, MORNING)
    await messages.send_due(MORNING)
    found = await messages.message_by_key(later)
    assert found is not None and (found.status, found.reason) == ("suppressed", "care_off")


async def test_any_other_reply_changes_nothing(client) -> None:
    member, keys = await _member_with_queue("13800138011")
    response = await client.post(
        "/api/v1/messages/inbound", json={"phone": "13800138011", "text": "stop it please"}, headers=await api_headers()
    )
    assert response.status_code == 200
    assert response.json()["opted_out"] is False
    assert (await consents.current(member.id))[consents.MARKETING_SMS].granted is True
    found = await messages.message_by_key(keys["marketing"])
    assert found is not None and found.status == "queued"


async def test_an_unknown_phone_is_a_404_that_says_so(client) -> None:
    response = await client.post(
        "/api/v1/messages/inbound",
        json={"phone": "13900139099", "text": "STOP"},
        headers=await api_headers(**{"Accept-Language": "en"}),
    )
    assert response.status_code == 404
    assert "139****9099" in response.text and "phone" in response.text


async def test_a_phone_that_is_no_mobile_number_is_422(client) -> None:
    response = await client.post(
        "/api/v1/messages/inbound", json={"phone": "12345", "text": "STOP"}, headers=await api_headers()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "phone"
