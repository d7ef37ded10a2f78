"""An HQ administrator on a phone (iPhone 13, touch) finds an event whose follow-up failed every try, reads its
error and hands it on again; both languages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from playwright.async_api import expect

from e2e.helpers import LI_NA, NewContext, login, save_screenshot, switch_language

pytestmark = pytest.mark.e2e

MANAGER_DEVICE = "iPhone 13"
# Recorded in the server's own database as a sale would, then failed as often as a broken handler makes it.
_FAIL_EVENT = """
import asyncio, sys
from datetime import UTC, datetime


async def main(key: str, member_no: str) -> None:
    from app.components import events
    from app.components.events import queries
    from app.db import engine, fetch, is_sqlite, transaction

    if not is_sqlite():
        await engine().start_connection_pool(min_size=1, max_size=1)
    member = (await fetch("SELECT id FROM member WHERE member_no = {}", member_no))[0]["id"]
    async with transaction():
        await events.record(key, events.SALE_COMPLETED, member, None, {"sale_no": "S-E2E"}, datetime.now(UTC))
    event_id = (await fetch("SELECT id FROM outbox WHERE key = {}", key))[0]["id"]
    for _ in range(events.MAX_ATTEMPTS):
        await queries.record_failure(event_id, "RuntimeError: the journey handler could not reach the database")


asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _server_env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["YAOSHI_DATA_DIR"] = str(server.data_dir)
    if server.database_url:
        env["DATABASE_URL"] = server.database_url
    return env


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_an_admin_hands_a_failed_event_on_again(server, new_context: NewContext, language: str) -> None:
    key = f"sale:E2E-{language}"
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _FAIL_EVENT, key, LI_NA],
        env=_server_env(server),
        check=True,
        timeout=60,
    )
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, "admin", "/manager")
    if language == "en":
        await switch_language(page, "en")
    await page.goto("/manager/events")
    event = page.get_by_test_id("failed-event").filter(has_text=key)
    await expect(event).to_be_visible()
    await expect(event.get_by_test_id("event-error")).to_contain_text("could not reach the database")
    await expect(event).to_contain_text("Sale" if language == "en" else "销售单")
    await expect(event).to_contain_text(LI_NA)
    retry = event.get_by_test_id("retry-event")
    box = await retry.bounding_box()
    assert box is not None and box["height"] >= 44
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save_screenshot(page, f"manager-failed-events-{language}.png")
    await retry.tap()
    await expect(page.get_by_test_id("event-retried")).to_be_visible()
    await expect(page.get_by_test_id("failed-event").filter(has_text=key)).to_have_count(0)
