"""SAQ's job-queue monitor under /manager/queue: HQ administrators read it, nobody else, and nobody changes it."""

from __future__ import annotations

from tests.conftest import login


async def test_an_hq_admin_reads_the_queue_and_nobody_else_does(client) -> None:
    token = await login(client, "admin")
    page = await client.get("/manager/queue/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    info = await client.get("/manager/queue/api/queues")
    assert info.status_code == 200
    assert [q["name"] for q in info.json()["queues"]] == ["yaoshi"]
    refused = await client.post("/manager/queue/api/queues/yaoshi/jobs/nothing/retry", headers={"x-csrftoken": token})
    assert refused.status_code == 405  # read-only: retry and abort are refused, even with the CSRF token
    assert (await client.post("/manager/queue/api/queues/yaoshi/jobs/nothing/abort")).status_code in (403, 405)
    for username in ("manager", "analyst", "pharmacist"):
        await login(client, username)
        assert (await client.get("/manager/queue/api/queues")).status_code == 403, username
