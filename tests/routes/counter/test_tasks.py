"""The task pages and the task API through the real application: the queue, a task, its outcome, errors, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.components import care_tasks
from app.db import fetch, transaction
from tests.components.care import care_data as cd
from tests.conftest import api_headers, grant_health_consent, login

HX = {"HX-Request": "true"}


async def _task(store: str = "SH001", kind: str = "follow_up_call") -> tuple[int, str]:
    m = await cd.member("随访")
    member_no = (await fetch("SELECT member_no FROM member WHERE id = {}", m))[0]["member_no"]
    await grant_health_consent(member_no)
    now = datetime.now(UTC) - timedelta(hours=2)
    async with transaction():
        task_id = await care_tasks.create_task(
            care_tasks.NewTask(f"t:{m}", m, await cd.store_id(store), kind, "normal", "pharmacist", None, now, ""), now
        )
    assert task_id is not None
    return task_id, member_no


async def test_a_pharmacist_opens_a_task_from_the_queue_and_records_the_outcome(client) -> None:
    task_id, member_no = await _task()
    token = await login(client, "pharmacist")
    queue = await client.get("/counter/tasks")
    assert queue.status_code == 200 and f'data-task-id="{task_id}"' in queue.text
    page = await client.get(f"/counter/tasks/{task_id}")
    assert page.status_code == 200 and f'hx-get="/members/{member_no}/health"' in page.text
    views = await fetch("SELECT detail FROM audit_event WHERE action = 'task.view'")
    assert [v["detail"] for v in views] == [f"task {task_id}"]
    bad = await client.post(
        f"/counter/tasks/{task_id}/outcome",
        data={"outcome": "reached", "systolic": "150", "note": "好"},
        headers={**HX, "x-csrftoken": token},
    )
    assert bad.status_code == 422 and 'data-testid="error-diastolic"' in bad.text and 'value="150"' in bad.text
    saved = await client.post(
        f"/counter/tasks/{task_id}/outcome",
        data={"outcome": "reached", "taking": "yes", "systolic": "150", "diastolic": "95"},
        headers={**HX, "x-csrftoken": token},
    )
    assert saved.status_code == 200 and 'data-testid="task-done"' in saved.text
    assert saved.headers["HX-Trigger"] == "task-saved"
    timeline = await client.get(f"/members/{member_no}/timeline")
    assert "150/95" in timeline.text
    assert f'data-task-id="{task_id}"' not in (await client.get("/counter/tasks")).text


async def test_another_stores_task_is_not_found(client) -> None:
    task_id, _ = await _task(store="SH002")
    await login(client, "pharmacist")
    missing = await client.get(f"/counter/tasks/{task_id}")
    assert missing.status_code == 404 and str(task_id) in missing.text


async def test_snooze_and_reassign_answer_next_to_their_fields(client) -> None:
    task_id, _ = await _task()
    token = await login(client, "pharmacist")
    headers = {**HX, "x-csrftoken": token}
    bad = await client.post(f"/counter/tasks/{task_id}/snooze", data={"days": "99"}, headers=headers)
    assert bad.status_code == 422 and 'data-testid="error-days"' in bad.text and 'value="99"' in bad.text
    ok = await client.post(f"/counter/tasks/{task_id}/snooze", data={"days": "2"}, headers=headers)
    assert ok.status_code == 200
    assert f'data-task-id="{task_id}"' not in (await client.get("/counter/tasks?scope=store")).text


async def test_the_store_manager_sees_the_queue_with_overdue_counts(client) -> None:
    await _task()
    await login(client, "manager")
    page = await client.get("/manager/tasks")
    assert page.status_code == 200 and 'data-testid="overdue">1<' in page.text


async def test_the_task_api_lists_my_tasks_and_records_an_outcome(client) -> None:
    task_id, _ = await _task()
    headers = await api_headers("pharmacist")
    listed = await client.get("/api/v1/tasks?assignee=me&status=open", headers=headers)
    assert listed.status_code == 200 and [t["id"] for t in listed.json()["tasks"]] == [task_id]
    bad = await client.post(f"/api/v1/tasks/{task_id}/outcome", json={"outcome": "maybe"}, headers=headers)
    assert bad.status_code == 422
    done = await client.post(
        f"/api/v1/tasks/{task_id}/outcome", json={"outcome": "not_reached", "retry_days": 3}, headers=headers
    )
    assert done.status_code == 200 and done.json()["attempts"] == 1 and done.json()["status"] == "open"
    other, _ = await _task(store="SH002")
    assert (
        await client.post(f"/api/v1/tasks/{other}/outcome", json={"outcome": "reached"}, headers=headers)
    ).status_code == 404
