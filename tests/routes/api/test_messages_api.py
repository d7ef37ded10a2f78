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


# ---------------------------------------------------------------- delivery receipts


async def _sent_message(phone: str) -> str:
    _, keys = await _member_with_queue(phone)
    await messages.send_due(MORNING)
    found = await messages.message_by_key(keys["service"])
    assert found is not None and found.status == "sent"
    return keys["service"]


async def test_a_delivery_receipt_marks_the_message_delivered_once(client) -> None:
    key = await _sent_message("13800138020")
    headers = await api_headers()
    first = await client.post("/api/v1/messages/receipts", json={"key": key, "status": "delivered"}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"key": key, "status": "delivered", "changed": True}
    again = await client.post(
        "/api/v1/messages/receipts", json={"key": key, "status": "undelivered", "error": "late"}, headers=headers
    )
    assert again.json() == {"key": key, "status": "delivered", "changed": False}  # the first answer stands
    found = await messages.message_by_key(key)
    assert found is not None and found.status == "delivered"


async def test_an_undelivered_receipt_is_a_failure_listed_with_the_gateways_reason(client) -> None:
    key = await _sent_message("13800138021")
    response = await client.post(
        "/api/v1/messages/receipts",
        json={"key": key, "status": "undelivered", "error": "MK:0005 number unreachable"},
        headers=await api_headers(),
    )
    assert response.json()["status"] == "failed"
    failed = await messages.recent_messages(await actor("admin"), "failed")
    assert [(m.key, m.reason, m.last_error) for m in failed] == [(key, "undelivered", "MK:0005 number unreachable")]


async def test_a_receipt_before_the_send_is_a_409_and_an_unknown_key_a_404(client) -> None:
    _, keys = await _member_with_queue("13800138022")
    headers = await api_headers(**{"Accept-Language": "en"})
    early = await client.post(
        "/api/v1/messages/receipts", json={"key": keys["service"], "status": "delivered"}, headers=headers
    )
    assert early.status_code == 409 and "not been sent yet" in early.text
    found = await messages.message_by_key(keys["service"])
    assert found is not None and found.status == "queued"
    unknown = await client.post(
        "/api/v1/messages/receipts", json={"key": "no-such-key", "status": "delivered"}, headers=headers
    )
    assert unknown.status_code == 404 and "no-such-key" in unknown.text
    bad = await client.post("/api/v1/messages/receipts", json={"key": "k", "status": "read"}, headers=headers)
    assert bad.status_code == 422 and "status" in bad.text
