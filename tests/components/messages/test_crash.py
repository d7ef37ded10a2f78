"""A sender process killed with SIGKILL in the middle of a batch: after recovery every message went out once in
effect (one row each, sent, one timeline event each; the one cut off is resent under its idempotency key)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.components import members, messages, timeline
from app.components.messages import outbox, sender
from app.db import fetch, transaction
from app.settings import get_settings
from tests.conftest import actor

ROOT = Path(__file__).resolve().parents[3]
MORNING = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)
WAIT_SECONDS = 60
SENDER = "import asyncio, sys\nfrom datetime import datetime\nfrom app.components import messages\n" + (
    "asyncio.run(messages.send_due(datetime.fromisoformat(sys.argv[1])))\n"
)


class HoldingGateway:
    """A real SMS gateway that accepts the first request and holds the second without answering."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.keys.append(self.headers["Idempotency-Key"])
                if len(gateway.keys) == 2:
                    gateway.holding.set()
                    gateway.release.wait(WAIT_SECONDS)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[HoldingGateway]:
    server = HoldingGateway()
    configured = dataclasses.replace(get_settings(), sms_url=server.url)
    monkeypatch.setattr(sender, "get_settings", lambda: configured)
    monkeypatch.setattr(outbox, "get_settings", lambda: configured)
    yield server
    server.close()


async def test_a_sender_killed_mid_batch_leaves_every_message_sent_once(gateway: HoldingGateway) -> None:
    member = await members.register(members.NewMember(name="钱敏", phone="13800138030"), await actor())
    keys = [f"crash:{uuid.uuid4().hex}" for _ in range(3)]
    async with transaction():
        for key in keys:
            await messages.queue_member_message(key, member.id, None, "service", "welcome", {}, MORNING)
    env = {**os.environ, "YAOSHI_SMS_URL": gateway.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SENDER, MORNING.isoformat(), cwd=ROOT, env=env, start_new_session=True
    )
    try:
        assert await asyncio.to_thread(gateway.holding.wait, WAIT_SECONDS), "the sender never reached the gateway"
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch: one sent, one at the gateway unanswered, one not tried
        assert await asyncio.wait_for(proc.wait(), WAIT_SECONDS) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
    gateway.release.set()
    statuses = {r["key"]: r["status"] for r in await fetch("SELECT key, status FROM message")}
    assert sorted(statuses.values()) == ["sending", "sending", "sent"]
    # Recovery: the next run after the claim timeout takes over the two left `sending`.
    report = await messages.send_due(MORNING + messages.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert report.sent == 2
    rows = await fetch("SELECT key, status, attempts FROM message ORDER BY id")
    assert [(r["key"], r["status"], r["attempts"]) for r in rows] == [(k, "sent", 1) for k in keys]
    assert sorted(set(gateway.keys)) == sorted(keys)  # every message reached the gateway …
    assert gateway.keys.count(keys[1]) == 2  # … the one cut off twice, under the same idempotency key
    events = [e for e in await timeline.events(member.id) if e.kind == messages.MESSAGE_EVENT]
    assert len(events) == 3
    assert json.dumps(sorted(e.ref for e in events)) == json.dumps(sorted({e.ref for e in events}))
