"""The message sender through the real worker and Redis: a due notice goes out once, however often the job runs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from app.components import messages
from app.db import transaction
from app.settings import get_settings
from tests.conftest import actor, run_job_in_worker


async def test_the_sender_job_sends_what_is_due_once() -> None:
    store_id = (await actor()).store_id
    assert store_id is not None
    key = f"n:{uuid.uuid4().hex}"
    async with transaction():  # a staff notice: no quiet hours, so the test holds at any hour
        await messages.queue_staff_notice(key, store_id, "urgent_task", {"task": "回访"}, datetime.now(UTC))
    await run_job_in_worker("send_messages")
    await run_job_in_worker("send_messages")
    sent = await messages.message_by_key(key)
    assert sent is not None and sent.status == "sent"
    lines = get_settings().message_log.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines].count(key) == 1
