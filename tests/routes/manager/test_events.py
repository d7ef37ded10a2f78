"""`/manager/events`: an HQ administrator sees the events whose follow-up failed every try and hands one on again."""

from __future__ import annotations

from app.components import events
from app.db import fetch, transaction
from tests.components.care import care_data as cd
from tests.components.events.test_events import NOW, _writer
from tests.conftest import login

HX = {"HX-Request": "true"}


async def _failed_event() -> tuple[int, str]:
    m = await cd.member("失败")
    async with transaction():
        await events.record("sale:S77", events.SALE_COMPLETED, m, None, {}, NOW)
    broken = _writer("broken", [], fail_times=99)
    for _ in range(events.MAX_ATTEMPTS):
        await events.dispatch([broken])
    (row,) = await events.failed_events()
    member_no = (await fetch("SELECT member_no FROM member WHERE id = {}", m))[0]["member_no"]
    return row["id"], member_no


async def test_an_admin_sees_a_failed_event_with_its_error_and_hands_it_on_once(client) -> None:
    event_id, member_no = await _failed_event()
    token = await login(client, "admin")
    await client.post("/language", data={"language": "en", "next": "/manager/events"}, headers={"x-csrftoken": token})
    page = await client.get("/manager/events")
    assert page.status_code == 200
    assert 'data-testid="failed-event"' in page.text and member_no in page.text
    assert "the handler&#39;s database call timed out" in page.text and "5 attempts" in page.text
    retried = await client.post(f"/manager/events/{event_id}/retry", headers={**HX, "x-csrftoken": token})
    assert retried.status_code == 200 and 'data-testid="event-retried"' in retried.text
    assert 'data-testid="events-none"' in retried.text
    seen: list[str] = []
    assert await events.dispatch([_writer("broken", seen)]) == 1  # the cause fixed: handled, once
    assert seen == ["sale:S77"] and await events.dispatch([_writer("broken", seen)]) == 0
    audit = await fetch("SELECT detail FROM audit_event WHERE action = 'event.retry'")
    assert [a["detail"] for a in audit] == [str(event_id)]
    again = await client.post(f"/manager/events/{event_id}/retry", headers={**HX, "x-csrftoken": token})
    assert again.status_code == 404 and f"No failed event {event_id}" in again.text
