"""The HTTP adapters against a real HTTP server on 127.0.0.1: the SMS gateway and the WeCom/DingTalk robots,
the idempotency key, retries with backoff and the permanent failure."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.components import members, messages
from app.components.messages import outbox, queries, sender
from app.db import transaction
from app.settings import get_settings
from tests.conftest import actor

MORNING = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)


class Gateway:
    """A real HTTP server: records every request and answers with the next scripted (status, body)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[tuple[int, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                gateway.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer = gateway.answers.pop(0) if gateway.answers else (200, '{"errcode": 0}')
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway() as server:
        yield server


@pytest.fixture
def sms_configured(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """The instance configured with the test's SMS gateway (as YAOSHI_SMS_URL/AUTH would)."""
    configured = dataclasses.replace(get_settings(), sms_url=gateway.url + "/sms", sms_auth="Bearer s3cret")
    monkeypatch.setattr(sender, "get_settings", lambda: configured)
    monkeypatch.setattr(outbox, "get_settings", lambda: configured)
    return gateway


async def test_sms_gateway_gets_the_phone_text_auth_and_idempotency_key(gateway: Gateway) -> None:
    message = messages.Outgoing("k-1", "sms", '他说"你好"', phone="13800138000")
    await messages.deliver_sms(gateway.url + "/send", "Bearer abc", '{"to": "$phone", "msg": "$text"}', message)
    [request] = gateway.requests
    assert request["path"] == "/send"
    assert request["headers"]["Authorization"] == "Bearer abc"
    assert request["headers"]["Idempotency-Key"] == "k-1"
    assert json.loads(request["body"]) == {"to": "13800138000", "msg": '他说"你好"'}


async def test_gateway_errors_say_whether_a_retry_may_help(gateway: Gateway) -> None:
    message = messages.Outgoing("k-2", "sms", "hi", phone="13800138000")
    gateway.answers = [(503, "busy"), (400, "bad number"), (429, "slow down")]
    for permanent in (False, True, False):
        with pytest.raises(messages.DeliveryError) as failed:
            await messages.deliver_sms(gateway.url, "", '{"p": "$phone"}', message)
        assert failed.value.permanent is permanent


async def test_robot_webhooks_post_text_and_read_errcode(gateway: Gateway) -> None:
    notice = messages.Outgoing("n-1", "wecom", "紧急任务")
    await messages.deliver_robot(gateway.url + "/wecom", notice)
    assert json.loads(gateway.requests[0]["body"]) == {"msgtype": "text", "text": {"content": "紧急任务"}}
    assert gateway.requests[0]["headers"]["Idempotency-Key"] == "n-1"
    gateway.answers = [(200, '{"errcode": 310000, "errmsg": "keywords not in content"}')]
    with pytest.raises(messages.DeliveryError, match="310000"):
        await messages.deliver_robot(gateway.url + "/dingtalk", notice)


async def test_an_unreachable_gateway_is_a_retryable_error() -> None:
    with Gateway() as closed:
        url = closed.url
    with pytest.raises(messages.DeliveryError) as failed:
        await messages.deliver_sms(url, "", "$text", messages.Outgoing("k-3", "sms", "hi", phone="13800138000"))
    assert not failed.value.permanent


async def _member_with_message(template: str = "welcome") -> tuple[members.MemberView, str]:
    member = await members.register(members.NewMember(name="钱敏", phone="13800138000"), await actor())
    key = f"t:{uuid.uuid4().hex}"
    async with transaction():
        await messages.queue_member_message(key, member.id, (await actor()).store_id, "service", template, {}, MORNING)
    return member, key


async def test_the_sender_sends_sms_through_the_gateway(sms_configured: Gateway) -> None:
    _, key = await _member_with_message()
    report = await messages.send_due(MORNING)
    assert report.sent == 1
    [request] = sms_configured.requests
    body = json.loads(request["body"])
    assert body["phone"] == "13800138000" and body["id"] == key
    assert request["headers"]["Idempotency-Key"] == key
    sent = await messages.message_by_key(key)
    assert sent is not None and (sent.status, sent.channel) == ("sent", "sms")
    assert sent.body == ""  # a real SMS is not shown again in the manager's list


async def test_failures_are_retried_with_backoff_then_fail_for_good(sms_configured: Gateway) -> None:
    _, key = await _member_with_message()
    sms_configured.answers = [(503, "busy")] * 10
    now = MORNING
    attempts = (await messages.message_settings()).max_attempts
    for attempt in range(1, attempts + 1):
        report = await messages.send_due(now)
        assert report.claimed == 1
        found = await messages.message_by_key(key)
        assert found is not None and found.attempts == attempt
        if attempt < attempts:
            assert (found.status, found.reason) == ("queued", "retry")
            assert found.not_before == now + messages.backoff(attempt)
            assert (await messages.send_due(found.not_before - timedelta(seconds=1))).claimed == 0
            now = found.not_before
    failed = await messages.message_by_key(key)
    assert failed is not None and (failed.status, failed.reason) == ("failed", "gave_up")
    assert "503" in failed.last_error
    assert len(sms_configured.requests) == attempts
    assert [m.key for m in await messages.recent_messages(await actor("manager"), status="failed")] == [key]


async def test_a_refusal_fails_at_once(sms_configured: Gateway) -> None:
    _, key = await _member_with_message()
    sms_configured.answers = [(401, "bad credentials")]
    await messages.send_due(MORNING)
    failed = await messages.message_by_key(key)
    assert failed is not None and (failed.status, failed.reason, failed.attempts) == ("failed", "refused", 1)


async def test_a_resend_after_a_crash_carries_the_same_idempotency_key(sms_configured: Gateway) -> None:
    _, key = await _member_with_message()
    # The gateway takes the SMS but the answer never arrives (the worker dies): the row stays `sending`.
    async with transaction():
        await queries.claim_due(MORNING, MORNING - messages.CLAIM_TIMEOUT, 10)
    outgoing = messages.Outgoing(key, "sms", "hi", phone="13800138000")
    await messages.deliver_sms(sms_configured.url, "", '{"id": "$key"}', outgoing)
    await messages.send_due(MORNING + messages.CLAIM_TIMEOUT + timedelta(seconds=1))
    keys = [r["headers"]["Idempotency-Key"] for r in sms_configured.requests]
    assert keys == [key, key]  # the gateway sees one message key twice and sends one SMS
    sent = await messages.message_by_key(key)
    assert sent is not None and sent.status == "sent"


async def test_staff_notices_go_to_the_stores_robot(gateway: Gateway) -> None:
    store_id = (await actor()).store_id
    assert store_id is not None
    await messages.save_message_settings(
        messages.MessageSettings(robots={store_id: ("dingtalk", gateway.url + "/robot")}), await actor("admin")
    )
    key = f"n:{uuid.uuid4().hex}"
    async with transaction():
        await messages.queue_staff_notice(key, store_id, "urgent_task", {"task": "回访", "name": "钱敏"}, MORNING)
    await messages.send_due(MORNING)
    [request] = gateway.requests
    assert request["path"] == "/robot"
    assert "回访" in json.loads(request["body"])["text"]["content"]
    sent = await messages.message_by_key(key)
    assert sent is not None and (sent.status, sent.channel) == ("sent", "dingtalk")
