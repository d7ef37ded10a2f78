"""End-to-end fixtures: the real server started as `make run` would, and Debian's Chromium driven by Playwright.

The server is one `yaoshi run` subprocess for the whole session, with its own scratch data directory (so its own
SQLite database and embedded Redis, seeded with the demo data) and a free port. Under CI's PostgreSQL pass
(`DATABASE_URL=postgres://…`) it gets its own scratch database `<dbname>_e2e_<pid>` on that server instead, created
here and dropped afterwards: the unit tests use the given database itself. A given `REDIS_URL` is passed through.

Playwright's async API runs on pytest-asyncio's session loop (the sync API refuses to run inside an event loop).
Each test gets fresh browser contexts at the device its surface is for; a failing test leaves screenshots of its
pages in e2e/artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright, expect

from e2e.helpers import ARTIFACTS, COUNTER_DEVICE, NewContext, login

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("YAOSHI_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 90

expect.set_options(timeout=10_000)


# ---------------------------------------------------------------- the server


def _launch_environment() -> dict[str, str]:
    """The environment pytest was started with.

    In a whole-suite run tests/conftest.py has already pointed os.environ's DATABASE_URL and REDIS_URL at the unit
    tests' own SQLite file and embedded Redis; those are not the CI's services and the e2e server must not share
    them. On Linux /proc/self/environ still holds the environment as it was at exec.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


async def _pg_admin(url: str, *statements: tuple[str, ...]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for statement, *args in statements:
            await conn.execute(statement, *args)
    finally:
        await conn.close()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Server:
    """The running e2e server."""

    base_url: str
    data_dir: Path
    database_url: str | None
    log: Path


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the e2e server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling for start-up, not papering over a race
    raise RuntimeError(f"the e2e server did not answer /healthz in {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the launcher (it stops web, worker and then Redis) and wait; kill its process group as a last resort."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _pg_admin_sync(url: str, *statements: tuple[str, ...]) -> None:
    """Run `_pg_admin` on a thread of its own, leaving this thread's event loop (pytest-asyncio's) alone."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _pg_admin(url, *statements)).result()


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """`yaoshi run` on a free port with a fresh data directory (and a scratch PostgreSQL database under CI)."""
    launch = _launch_environment()
    for stale in ARTIFACTS.glob("test_*.png"):  # failure pictures of an earlier run
        stale.unlink()
    data_dir = Path(tempfile.mkdtemp(prefix="yaoshi-e2e-"))
    port = _free_port()
    env = dict(os.environ)
    for key in ("DATABASE_URL", "REDIS_URL", "YAOSHI_DATA_DIR", "PORT", "HOST", "WEB_CONCURRENCY"):
        env.pop(key, None)
    env.update(YAOSHI_DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    if launch.get("REDIS_URL"):
        env["REDIS_URL"] = launch["REDIS_URL"]

    given_db = launch.get("DATABASE_URL", "")
    scratch_name = None
    if _is_postgres(given_db):
        scratch_name = f"{urlsplit(given_db).path.lstrip('/') or 'postgres'}_e2e_{os.getpid()}"
        quoted = _quote_ident(scratch_name)
        _pg_admin_sync(given_db, (f"DROP DATABASE IF EXISTS {quoted}",), (f"CREATE DATABASE {quoted}",))
        env["DATABASE_URL"] = _with_database(given_db, scratch_name)

    log = data_dir / "server.log"
    launcher = Path(sys.executable).with_name("yaoshi")
    cmd = [str(launcher), "run"] if launcher.exists() else [sys.executable, "-m", "app.cli", "run"]
    proc = None
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches pytest, whose teardown then stops the server in order
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, base_url, log)
        yield Server(base_url=base_url, data_dir=data_dir, database_url=env.get("DATABASE_URL"), log=log)
    finally:
        if proc is not None:
            _stop(proc)
        if scratch_name:
            _pg_admin_sync(
                given_db,
                (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1"
                    " AND pid <> pg_backend_pid()",
                    scratch_name,
                ),
                (f"DROP DATABASE IF EXISTS {_quote_ident(scratch_name)}",),
            )
        if request.session.testsfailed and log.exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log, ARTIFACTS / "server.log")
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------- the browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat at session start
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make chromium` (installs Debian's chromium)")
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    await browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _device(playwright: Playwright, device: str | dict) -> dict:
    if isinstance(device, dict):
        return dict(device)
    descriptor = dict(playwright.devices[device])
    descriptor.pop("default_browser_type", None)
    return descriptor


@pytest_asyncio.fixture(loop_scope="session")
async def new_context(
    request: pytest.FixtureRequest, playwright: Playwright, browser: Browser, server: Server
) -> AsyncIterator[NewContext]:
    """Open browser contexts at a device (a Playwright descriptor name or options); closed after the test."""
    contexts: list[BrowserContext] = []

    async def make(device: str | dict, **options: Any) -> BrowserContext:
        context = await browser.new_context(
            **_device(playwright, device), base_url=server.base_url, locale="zh-CN", **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for j, page in enumerate(context.pages):
                name = re.sub(r"[^\w.-]", "_", request.node.name)
                try:
                    await page.screenshot(path=ARTIFACTS / f"{name}-{i}-{j}.png", full_page=True)
                except Exception:  # a crashed page must not hide the test's own failure
                    pass
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def counter(new_context: NewContext) -> Page:
    """The counter at an iPad Mini (touch), logged in as the demo pharmacist."""
    context = await new_context(COUNTER_DEVICE)
    page = await context.new_page()
    await login(page, "pharmacist", "/counter")
    return page
