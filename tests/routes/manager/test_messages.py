"""/manager/messages: the outbox for managers, store-scoped, by status, with reasons and the log channel's text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.components import consents, members, messages
from app.db import transaction
from tests.conftest import actor, login

MORNING = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)


async def _sent_and_suppressed() -> tuple[str, str, str]:
    member = await members.register(members.NewMember(name="钱敏", phone="13800138020"), await actor())
    store = (await actor()).store_id
    other_store = (await actor("pharmacist2")).store_id
    sent, suppressed, elsewhere = (f"t:{uuid.uuid4().hex}" for _ in range(3))
    async with transaction():
        await consents.set_consent(member.id, consents.HEALTH_DATA, True, await actor())
        await messages.queue_member_message(sent, member.id, store, "service", "welcome", {}, MORNING)
        await messages.queue_member_message(suppressed, member.id, store, "marketing", "birthday", {}, MORNING)
        await messages.queue_member_message(elsewhere, member.id, other_store, "service", "welcome", {}, MORNING)
    await messages.send_due(MORNING)
    return sent, suppressed, elsewhere


async def test_the_store_manager_sees_the_stores_messages_with_reasons_and_text(client) -> None:
    sent, suppressed, elsewhere = await _sent_and_suppressed()
    await login(client, "manager")
    page = await client.get("/manager/messages", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert f'data-key="{sent}"' in page.text and f'data-key="{suppressed}"' in page.text
    assert f'data-key="{elsewhere}"' not in page.text
    assert "No consent to marketing SMS" in page.text or "营销短信" in page.text
    assert 'data-testid="message-body"' in page.text and "钱敏" in page.text
    assert 'data-testid="nav-messages"' in page.text
    only = await client.get("/manager/messages?status=suppressed", headers={"HX-Request": "true"})
    assert only.status_code == 200
    assert f'data-key="{suppressed}"' in only.text and f'data-key="{sent}"' not in only.text


async def test_hq_sees_every_store(client) -> None:
    sent, _, elsewhere = await _sent_and_suppressed()
    await login(client, "admin")
    page = await client.get("/manager/messages")
    assert f'data-key="{sent}"' in page.text and f'data-key="{elsewhere}"' in page.text


async def test_an_unknown_status_is_422_next_to_the_filter(client) -> None:
    await login(client, "manager")
    page = await client.get("/manager/messages?status=bogus")
    assert page.status_code == 422
    assert 'data-testid="error-status"' in page.text


async def test_hq_sets_the_weekly_limit_and_a_stores_robot(client) -> None:
    token = await login(client, "admin")
    store = (await actor()).store_id
    form = {"_csrf_token": token, "weekly_cap": "2", "max_attempts": "4"}
    bad = await client.post(
        "/manager/messages/settings", data={**form, f"robot_kind_{store}": "wecom", f"robot_url_{store}": "ftp://x"}
    )
    assert bad.status_code == 422
    assert f'data-testid="error-robot_url_{store}"' in bad.text and 'value="ftp://x"' in bad.text  # nothing lost
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
    saved = await client.post(
        "/manager/messages/settings", data={**form, f"robot_kind_{store}": "wecom", f"robot_url_{store}": url}
    )
    assert saved.status_code == 200 and 'data-testid="settings-saved"' in saved.text
    current = await messages.message_settings()
    assert (current.weekly_cap, current.max_attempts, current.robots) == (2, 4, {store: ("wecom", url)})
    for value in ("-1", "51", "x"):
        refused = await client.post("/manager/messages/settings", data={**form, "weekly_cap": value})
        assert refused.status_code == 422 and 'data-testid="error-weekly_cap"' in refused.text


async def test_a_store_manager_reads_the_settings_but_cannot_change_them(client) -> None:
    token = await login(client, "manager")
    page = await client.get("/manager/messages/settings")
    assert page.status_code == 200 and 'data-testid="read-only"' in page.text
    refused = await client.post("/manager/messages/settings", data={"_csrf_token": token, "weekly_cap": "9"})
    assert refused.status_code == 403
    assert (await messages.message_settings()).weekly_cap == 3
