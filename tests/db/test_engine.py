"""app/db.py: transactions (serialised writers, rollback, nesting), execute_many and the pooled SQLite engine."""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator

import pytest

from app.db import engine, execute_many, fetch, is_sqlite, placeholders, transaction
from app.db import sqlite_pool as db_module
from app.db.sqlite_pool import _is_read
from app.settings import get_settings

# The embedded engine's own machinery (write lock, loop-thread fast path, busy timeout): SQLite only.
sqlite_only = pytest.mark.sqlite

TABLE = "db_probe"


@pytest.fixture
async def probe() -> AsyncIterator[str]:
    """A scratch table (name, value), empty at the start of each test."""
    await fetch(f"CREATE TABLE IF NOT EXISTS {TABLE} (name VARCHAR(40) NOT NULL, value INTEGER NOT NULL)")
    await fetch(f"DELETE FROM {TABLE}")
    yield TABLE
    await fetch(f"DROP TABLE IF EXISTS {TABLE}")


async def _rows() -> list[tuple[str, int]]:
    return [(r["name"], r["value"]) for r in await fetch(f"SELECT name, value FROM {TABLE} ORDER BY name, value")]


# `short` transactions run on the loop's own connection on SQLite (app.db.transaction); same guarantees.
SHORT = pytest.mark.parametrize("short", [False, True], ids=["pooled", "short"])


@pytest.fixture(params=["commit-thread", "loop-commit"])
def commits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the loop's connection commits: on the commit thread (a COMMIT that syncs the log, the default FULL)
    or on the loop itself (YAOSHI_SQLITE_SYNCHRONOUS=NORMAL). Same guarantees."""
    if request.param == "loop-commit":
        monkeypatch.setattr(engine(), "commit_syncs", False)
    return request.param


@SHORT
async def test_rollback_on_exception_leaves_nothing(probe: str, short: bool) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(short=short):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "a", 1)
            await fetch(f"UPDATE {TABLE} SET value = {{}} WHERE name = {{}}", 2, "a")
            raise RuntimeError("boom")
    assert await _rows() == []
    async with transaction(short=short):  # the connection went back clean: the next transaction works and commits
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "b", 1)
    assert await _rows() == [("b", 1)]


@SHORT
async def test_a_failing_statement_rolls_back_the_whole_transaction(probe: str, short: bool) -> None:
    await fetch(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_name ON {TABLE} (name)")
    await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "taken", 1)
    with pytest.raises(Exception) as failed:
        async with transaction(short=short):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "new", 1)
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "taken", 2)
    assert "unique" in str(failed.value).lower() or "duplicate" in str(failed.value).lower()
    assert await _rows() == [("taken", 1)]


async def test_a_short_transaction_does_not_show_its_writes_to_others_before_commit(probe: str) -> None:
    async with transaction(short=True):
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "pending", 1)
        assert await _rows() == [("pending", 1)]  # its own statements see it
        if is_sqlite():  # it runs on the loop's own connection
            loop_conn = engine().connections().tx_direct
            assert loop_conn is not None and loop_conn.in_transaction
        # Another request's read, outside the transaction (its own task and context), does not.
        outside = await asyncio.create_task(fetch(f"SELECT count(*) AS c FROM {TABLE}"), context=contextvars.Context())
        assert outside == [{"c": 0}]
    assert await _rows() == [("pending", 1)]


async def test_nested_transaction_joins_the_outer_one(probe: str) -> None:
    # The inner block is not a savepoint: its writes commit or roll back with the outer transaction.
    with pytest.raises(RuntimeError):
        async with transaction():
            async with transaction():
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "inner", 1)
            assert await _rows() == [("inner", 1)]  # the outer transaction sees the inner write
            raise RuntimeError("outer fails after the inner block finished")
    assert await _rows() == []


async def test_an_inner_failure_caught_by_the_outer_block_keeps_the_inner_writes(probe: str) -> None:
    # Consequence of joining: no partial rollback. Code that catches an inner error must not expect one.
    async with transaction():
        with pytest.raises(RuntimeError):
            async with transaction():
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "inner", 1)
                raise RuntimeError("inner fails")
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "outer", 2)
    assert await _rows() == [("inner", 1), ("outer", 2)]


async def test_execute_many_inserts_every_row(probe: str) -> None:
    sql = f"INSERT INTO {TABLE} (name, value) VALUES ({placeholders(2)})"
    await execute_many(sql, [(f"n{i:03d}", i) for i in range(250)])
    rows = await _rows()
    assert len(rows) == 250 and rows[0] == ("n000", 0) and rows[-1] == ("n249", 249)


async def test_execute_many_inside_a_transaction_rolls_back_with_it(probe: str) -> None:
    sql = f"INSERT INTO {TABLE} (name, value) VALUES ({placeholders(2)})"
    with pytest.raises(RuntimeError):
        async with transaction():
            await execute_many(sql, [("x", 1), ("y", 2)])
            assert len(await _rows()) == 2
            raise RuntimeError("boom")
    assert await _rows() == []


async def test_a_failing_row_in_execute_many_writes_none_of_them(probe: str) -> None:
    await fetch(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_name ON {TABLE} (name)")
    sql = f"INSERT INTO {TABLE} (name, value) VALUES ({placeholders(2)})"
    with pytest.raises(Exception):  # noqa: B017 - the driver's own unique-violation class differs per engine
        await execute_many(sql, [("a", 1), ("b", 2), ("a", 3)])
    assert await _rows() == []


@sqlite_only
async def test_immediate_transactions_serialise_writers(probe: str) -> None:
    """Read-then-write transactions (short and pooled mixed) run one after another: no interleaving, no lost update."""
    await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "counter", 0)
    log: list[tuple[int, str]] = []

    async def bump(n: int) -> None:
        async with transaction(short=n % 2 == 1):
            log.append((n, "begin"))
            value = (await fetch(f"SELECT value FROM {TABLE} WHERE name = {{}}", "counter"))[0]["value"]
            await fetch(f"SELECT count(*) AS c FROM {TABLE}")  # more awaits: room for others to interleave
            await fetch(f"UPDATE {TABLE} SET value = {{}} WHERE name = {{}}", value + 1, "counter")
            log.append((n, "end"))

    await asyncio.gather(*(bump(n) for n in range(12)))
    assert await _rows() == [("counter", 12)]
    for i in range(0, len(log), 2):  # every begin is followed by the same transaction's end
        assert log[i][1] == "begin" and log[i + 1] == (log[i][0], "end")


@sqlite_only
async def test_a_slow_statement_leaves_the_loop_free_for_other_queries(probe: str) -> None:
    """A statement past the loop thread's budget moves to a pooled connection; other requests go on meanwhile."""
    # A SELECT: a statement starting with WITH counts as a write in app/db.py and would hold the write lock.
    slow_sql = (
        "SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
        " SELECT count(*) FROM n) AS c"
    )
    slow = asyncio.create_task(fetch(slow_sql))
    await asyncio.sleep(0)  # one loop step: the slow statement starts (and is handed to a worker thread)
    assert not slow.done()
    quick = await fetch(f"SELECT count(*) AS c FROM {TABLE}")  # a request arriving meanwhile
    await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "meanwhile", 1)
    assert quick == [{"c": 0}]
    assert not slow.done()  # both finished while the long statement was still running
    assert await slow == [{"c": 3000000}]
    assert await _rows() == [("meanwhile", 1)]


@sqlite_only
async def test_the_loop_statement_budget_never_interrupts_a_short_transaction(
    probe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Autocommit statements and short transactions share the loop's connection; only the former have a budget.

    With a budget every autocommit statement overruns, the progress handler fires inside later statements too
    (SQLite counts a cached statement's steps across runs): a COMMIT must still never be interrupted.
    """
    monkeypatch.setattr(engine(), "direct_budget", 1e-9)
    for i in range(1200):  # SQLite counts ~1 step per COMMIT: the handler is due inside one every ~1000
        await fetch(f"SELECT count(*) AS c FROM {TABLE}")
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", f"n{i}", i)
    assert (await fetch(f"SELECT count(*) AS c FROM {TABLE}"))[0]["c"] == 1200


@sqlite_only
async def test_an_autocommit_write_on_the_loop_is_applied_exactly_once(
    probe: str, monkeypatch: pytest.MonkeyPatch, commits: str
) -> None:
    """SQLite may call the progress handler after an autocommit INSERT committed and report it interrupted; such
    a write must not be retried on a pooled connection (an audit event would be recorded twice)."""
    monkeypatch.setattr(engine(), "direct_budget", 1e-9)
    for i in range(1200):
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "event", i)
    rows = await fetch(f"SELECT count(*) AS n, count(DISTINCT value) AS d FROM {TABLE}")
    assert rows == [{"n": 1200, "d": 1200}]


def _wal_frames(mode: str = "PASSIVE") -> int:
    """Frames in the WAL file now, as a checkpoint by another connection reports them (TRUNCATE: then empties it)."""
    conn = sqlite3.connect(get_settings().sqlite_path)
    try:
        busy, logged, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        assert not busy
        return logged
    finally:
        conn.close()


def _committed_rows() -> list[tuple[str, int]]:
    """The probe's rows as another process sees them: committed ones only."""
    conn = sqlite3.connect(get_settings().sqlite_path)
    try:
        return conn.execute(f"SELECT name, value FROM {TABLE} ORDER BY name, value").fetchall()
    finally:
        conn.close()


async def _no_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold this process's scheduled checkpoints off (one in flight is awaited): the test reads the log itself."""
    monkeypatch.setattr(engine(), "checkpoint_delay", 3600)
    pool = engine().connections()
    if pool.checkpoint_due is not None:
        pool.checkpoint_due.cancel()
        pool.checkpoint_due = None
    if pool.checkpoint_task is not None:
        await pool.checkpoint_task


@sqlite_only
async def test_the_log_starts_over_while_requests_keep_writing(probe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint copies the log while requests go on writing; the log must still start over from the top of
    its file afterwards, or under steady writes the WAL file grows without bound (and every commit appends)."""
    monkeypatch.setattr(db_module, "_RESTART_FRAMES", 1)
    # Only this test's checkpoint: a scheduled one running at the same time would make it report busy.
    await _no_checkpoints(monkeypatch)
    pool = engine().connections()
    for i in range(200):
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "before", i)
    writing = True

    async def requests_writing() -> int:
        count = 0
        while writing:
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "during", count)
            count += 1
            await asyncio.sleep(0)
        return count

    writer = asyncio.create_task(requests_writing())
    await pool.checkpoint()
    writing = False
    during = await writer
    await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "after", 0)
    assert during > 0  # requests did write while the log was being copied
    assert _wal_frames() < 50  # the log holds only the last few writes, not all 200 + `during` of them
    assert len(await _rows()) == 200 + during + 1


@sqlite_only
async def test_every_short_transaction_is_committed_when_its_block_returns(probe: str, commits: str) -> None:
    """Sales arriving together: each is its own BEGIN IMMEDIATE … COMMIT, and none returns before its row is
    committed (another process sees it by then)."""
    committed_on_return: list[bool] = []

    async def sale(n: int) -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "sale", n)
        committed_on_return.append(("sale", n) in _committed_rows())

    await asyncio.gather(*(sale(n) for n in range(8)))
    assert committed_on_return == [True] * 8
    assert _committed_rows() == [("sale", n) for n in range(8)]


@sqlite_only
async def test_a_read_between_short_transactions_sees_only_committed_rows(probe: str, commits: str) -> None:
    """Requests reading while sales queue for the write lock see a sale only once it is committed (group commit
    let such a read see the sales of the group a moment before their shared COMMIT, which could still fail)."""
    uncommitted_seen: set[tuple[str, int]] = set()
    writing = True

    async def reader() -> int:
        reads = 0
        while writing:
            seen = set(await _rows())
            # No turn of the loop between the read and this look from outside: nothing commits in between, and
            # what was committed before the read still is.
            uncommitted_seen.update(seen - set(_committed_rows()))
            reads += 1
            await asyncio.sleep(0)
        return reads

    async def sale(n: int) -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "sale", n)
            await asyncio.sleep(0)  # the block awaits something (a read elsewhere, say): others run meanwhile
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "line", n)

    reading = asyncio.create_task(reader(), context=contextvars.Context())
    await asyncio.gather(*(sale(n) for n in range(8)))
    writing = False
    assert await reading > 0
    assert uncommitted_seen == set()
    assert len(_committed_rows()) == 16


@pytest.fixture
async def deferred_child(probe: str) -> AsyncIterator[str]:
    """A child table whose foreign key is checked at COMMIT: an orphan row makes the COMMIT itself fail, after
    every statement succeeded, as a disk that fills at COMMIT does."""
    await fetch("CREATE TABLE IF NOT EXISTS db_probe_parent (id INTEGER PRIMARY KEY)")
    await fetch(
        "CREATE TABLE IF NOT EXISTS db_probe_child (parent INTEGER REFERENCES db_probe_parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    yield "db_probe_child"
    await fetch("DROP TABLE IF EXISTS db_probe_child")
    await fetch("DROP TABLE IF EXISTS db_probe_parent")


@sqlite_only
@SHORT
async def test_a_reader_during_a_failing_commit_sees_nothing_of_it(
    deferred_child: str, short: bool, commits: str
) -> None:
    """The COMMIT fails: the writer hears of it, and a request reading at that moment sees none of its rows."""
    ready = asyncio.Event()

    async def reader() -> list[tuple[str, int]]:
        await ready.wait()
        return await _rows()

    read = asyncio.create_task(reader(), context=contextvars.Context())
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with transaction(short=short):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "doomed", 1)
            await fetch(f"INSERT INTO {deferred_child} (parent) VALUES (42)")  # no parent 42: fails at COMMIT
            ready.set()  # the reader runs as soon as this block lets the loop go: at (or after) its COMMIT
    assert await read == []
    assert _committed_rows() == []


@sqlite_only
async def test_a_commit_that_fails_fails_only_its_own_transaction(deferred_child: str, commits: str) -> None:
    async def write(name: str, orphan: bool) -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", name, 1)
            if orphan:
                await fetch(f"INSERT INTO {deferred_child} (parent) VALUES (42)")

    results = await asyncio.gather(write("a", False), write("b", True), write("c", False), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError) and "FOREIGN KEY" in str(results[1])
    assert _committed_rows() == [("a", 1), ("c", 1)]
    async with transaction(short=True):  # the loop's connection is usable again
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "later", 1)
    assert _committed_rows() == [("a", 1), ("c", 1), ("later", 1)]


@sqlite_only
async def test_a_failing_transaction_among_others_rolls_back_alone(probe: str, commits: str) -> None:
    await fetch(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_name ON {TABLE} (name)")

    async def write(name: str, fail: bool) -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", name, 1)
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", name + "-line", 1)
            if fail:
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "a", 2)  # "a" is taken

    results = await asyncio.gather(write("a", False), write("b", True), write("c", False), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert _committed_rows() == [("a", 1), ("a-line", 1), ("c", 1), ("c-line", 1)]


@sqlite_only
@pytest.mark.parametrize("other", ["autocommit", "pooled", "checkpoint"])
async def test_other_writers_wait_for_an_open_short_transaction(probe: str, other: str, commits: str) -> None:
    """While a short transaction is open (its block awaits something), every other kind of write in this process
    waits for its COMMIT, then goes ahead: nothing deadlocks and nothing is written into the open transaction."""
    pool = engine().connections()
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def short() -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "short", 1)
            inside.set()
            await go_on.wait()
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "short", 2)

    async def write() -> None:
        if other == "autocommit":
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "other", 1)
        elif other == "pooled":
            async with transaction():
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "other", 1)
        else:
            await pool.checkpoint()
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "other", 1)

    first = asyncio.create_task(short())
    await inside.wait()
    writer = asyncio.create_task(write(), context=contextvars.Context())
    for _ in range(200):  # loop steps, not time: room for the other writer to (wrongly) go ahead
        await asyncio.sleep(0)
    assert not writer.done() and _committed_rows() == []
    go_on.set()
    async with asyncio.timeout(10):
        await asyncio.gather(first, writer)
    assert _committed_rows() == [("other", 1), ("short", 1), ("short", 2)]


@sqlite_only
async def test_a_short_transaction_cancelled_in_its_block_keeps_nothing_and_holds_up_no_one(
    probe: str, commits: str
) -> None:
    entered = asyncio.Event()

    async def write(name: str, wait: bool) -> None:
        async with transaction(short=True):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", name, 1)
            entered.set()
            if wait:
                await asyncio.Event().wait()  # it awaits something when its client hangs up

    gone = asyncio.create_task(write("gone", wait=True))
    await entered.wait()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    async with asyncio.timeout(10):
        await write("stays", wait=False)
    assert _committed_rows() == [("stays", 1)]


@sqlite_only
async def test_a_commit_that_syncs_runs_off_the_loop_and_a_cancellation_waits_for_it(probe: str) -> None:
    """With synchronous = FULL a short transaction's COMMIT waits for the log's fsync on the commit thread, not on
    the loop. Meanwhile the loop serves reads (which do not see the rows yet), and a request cancelled then (its
    client hung up) still waits for the COMMIT to end before the connection is anyone else's: the sale it
    recorded stays recorded, and the next transaction goes ahead."""
    pool = engine().connections()
    assert engine().commit_syncs
    held = threading.Event()
    pool.commit_thread().submit(held.wait)  # the commit thread is busy: the COMMIT below waits for it
    try:

        async def sale() -> None:
            async with transaction(short=True):
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "sale", 1)

        task = asyncio.create_task(sale())
        for _ in range(10_000):  # loop steps, not time: until its COMMIT is queued on the commit thread
            if pool.main_busy:
                break
            await asyncio.sleep(0)
        assert pool.main_busy and not task.done()
        # The loop is free: another request reads (on the second connection) and sees nothing uncommitted.
        assert await asyncio.create_task(_rows(), context=contextvars.Context()) == []
        task.cancel()
        for _ in range(100):
            await asyncio.sleep(0)
        assert not task.done() and pool.main_busy  # it waits for its COMMIT before it lets the cancellation in
    finally:
        held.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not pool.main_busy and _committed_rows() == [("sale", 1)]
    async with transaction(short=True):
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "next", 1)
    assert _committed_rows() == [("next", 1), ("sale", 1)]


@SHORT
async def test_a_savepoint_rolls_back_alone_inside_an_open_transaction(probe: str, short: bool) -> None:
    async with transaction(short=short) as tx:
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "kept", 1)
        savepoint = await tx.savepoint()
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "undone", 1)
        await savepoint.rollback_to()
        await savepoint.release()
        released = await tx.savepoint()
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "released", 1)
        await released.release()
    assert await _rows() == [("kept", 1), ("released", 1)]


@sqlite_only
@SHORT
@pytest.mark.parametrize("then", ["statement", "savepoint", "nested", "execute_many", "nothing"])
async def test_a_transaction_rolled_back_under_an_open_savepoint(probe: str, short: bool, then: str) -> None:
    """SQLite rolls a whole transaction back by itself on some errors (disk full, an I/O error, a conflict under
    `OR ROLLBACK`), savepoints and all. The writer may think only its savepoint failed and go on: outside any
    transaction each later statement would commit on its own, and a SAVEPOINT would begin a new transaction that
    its RELEASE commits. It must fail instead, and nothing of the block may stay."""
    await fetch(f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_name ON {TABLE} (name)")
    await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "taken", 1)
    insert = f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})"
    with pytest.raises(db_module.TransactionLost):
        async with transaction(short=short) as tx:
            await fetch(insert, "before", 1)
            await tx.savepoint()
            await fetch(insert, "in the savepoint", 1)
            with pytest.raises(sqlite3.IntegrityError):
                await fetch(f"INSERT OR ROLLBACK INTO {TABLE} (name, value) VALUES ('taken', 2)")
            if then == "statement":
                await fetch(insert, "after", 1)
            elif then == "savepoint":
                again = await tx.savepoint()
                await fetch(insert, "after", 1)
                await again.release()
            elif then == "nested":
                async with transaction(short=short):
                    await fetch(insert, "after", 1)
            elif then == "execute_many":
                await execute_many(f"INSERT INTO {TABLE} (name, value) VALUES ({placeholders(2)})", [("after", 1)])
    assert _committed_rows() == [("taken", 1)]
    async with transaction(short=short):  # the connection went back clean
        await fetch(insert, "next", 1)
    assert _committed_rows() == [("next", 1), ("taken", 1)]


def _synchronous(rows: list[dict]) -> str:
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[rows[0]["synchronous"]]


@sqlite_only
async def test_every_connection_commits_with_synchronous_full_by_default(probe: str) -> None:
    """With WAL, `synchronous = NORMAL` may lose acknowledged commits at a power cut; FULL syncs the log at every
    COMMIT. Every connection the engine opens (the loop's two, the pooled ones) must say FULL."""
    sql = "SELECT synchronous FROM pragma_synchronous()"
    assert get_settings().sqlite_synchronous == "FULL"
    assert _synchronous(await fetch(sql)) == "FULL"  # the loop's main connection
    async with transaction(short=True):
        await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "open", 1)
        # Another request's read while the main connection holds the transaction: the second loop connection.
        second = await asyncio.create_task(fetch(sql), context=contextvars.Context())
        assert engine().connections().direct is not None
    assert _synchronous(second) == "FULL"
    async with transaction():  # a pooled connection
        assert _synchronous(await fetch(sql)) == "FULL"


@sqlite_only
async def test_the_synchronous_setting_relaxes_every_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.piccolo_conf import build_engine
    from app.settings import load_settings

    monkeypatch.setenv("YAOSHI_SQLITE_SYNCHRONOUS", "normal")
    relaxed = load_settings()
    assert relaxed.sqlite_synchronous == "NORMAL"
    other = build_engine(relaxed.database_url, relaxed.sqlite_synchronous)
    pooled = await other.open_connection()
    try:
        assert _synchronous(list(await pooled.execute_fetchall("PRAGMA synchronous"))) == "NORMAL"
    finally:
        await pooled.close()
    loop_conn = other.connections()._connect_on_loop()
    try:
        assert loop_conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        loop_conn.close()
        other.stop_connections()
    monkeypatch.setenv("YAOSHI_SQLITE_SYNCHRONOUS", "OFF")  # never: a crash could corrupt the file
    with pytest.raises(ValueError, match="YAOSHI_SQLITE_SYNCHRONOUS"):
        load_settings()


def _other_process(script: str) -> subprocess.Popen:
    """A separate Python process with its own sqlite3 connection to the same database file."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(get_settings().sqlite_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def _line(proc: subprocess.Popen) -> str:
    assert proc.stdout is not None
    return (await asyncio.to_thread(proc.stdout.readline)).strip()


@sqlite_only
@SHORT
async def test_another_process_waits_for_our_write_transaction(probe: str, short: bool) -> None:
    proc = _other_process(
        f"""
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            print("got the lock", flush=True)
        except sqlite3.OperationalError as exc:
            print("refused:", exc, flush=True)
        db.execute("PRAGMA busy_timeout = 60000")  # now wait like the worker and the CLI do
        db.execute("BEGIN IMMEDIATE")
        seen = db.execute("SELECT count(*) FROM {TABLE} WHERE name = 'parent'").fetchone()[0]
        db.execute("INSERT INTO {TABLE} (name, value) VALUES ('child', ?)", (seen,))
        db.execute("COMMIT")
        print("done", flush=True)
        """
    )
    try:
        async with transaction(short=short):
            await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "parent", 1)
            assert await _line(proc) == "refused: database is locked"
        assert await _line(proc) == "done"
    finally:
        _stop(proc)
    # The other process got the lock only after our commit: it saw our row.
    assert await _rows() == [("child", 1), ("parent", 1)]


@sqlite_only
@SHORT
async def test_we_wait_for_another_process_holding_the_write_lock(probe: str, short: bool) -> None:
    proc = _other_process(
        f"""
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1], isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO {TABLE} (name, value) VALUES ('child', 1)")
        print("holding", flush=True)
        sys.stdin.readline()
        db.execute("COMMIT")
        print("committed", flush=True)
        """
    )
    try:
        assert await _line(proc) == "holding"

        async def write() -> int:
            # A short one too: the loop cannot wait for another process, so it waits on a pooled thread.
            async with transaction(short=short):
                seen = (await fetch(f"SELECT count(*) AS c FROM {TABLE} WHERE name = 'child'"))[0]["c"]
                await fetch(f"INSERT INTO {TABLE} (name, value) VALUES ({{}}, {{}})", "parent", seen)
            return seen

        ours = asyncio.create_task(write())
        outside = asyncio.create_task(fetch(f"INSERT INTO {TABLE} (name, value) VALUES ('single', 1)"))
        pool = engine().connections()
        for _ in range(10_000):  # loop steps, not time: until our transaction is opening
            if pool.write_lock.locked():
                break
            await asyncio.sleep(0)
        assert pool.write_lock.locked()
        # Meanwhile this process still serves reads (the waits happen on pooled connections' threads).
        assert await fetch("SELECT 1 AS one") == [{"one": 1}]
        assert not ours.done() and not outside.done()
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert await _line(proc) == "committed"
        assert await ours == 1  # it waited (busy timeout), then saw the other process's committed row
        await outside  # a single write outside a transaction also waited instead of failing "database is locked"
    finally:
        _stop(proc)
    assert await _rows() == [("child", 1), ("parent", 1), ("single", 1)]


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT 1", True),
        ("  select 1", True),
        ("WITH t AS (SELECT 1 AS one) SELECT one FROM t", True),
        ("with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) select count(*) from n", True),
        ("WITH t AS (SELECT 'insert or update' AS word) SELECT word FROM t", True),  # keywords in a literal
        ("WITH t AS (SELECT 1 AS updated_at) SELECT updated_at FROM t", True),  # part of a name
        ("WITH t AS (SELECT 1 AS one) INSERT INTO x SELECT one FROM t", False),
        ("WITH t AS (SELECT id FROM x) UPDATE x SET v = 1 WHERE id IN (SELECT id FROM t)", False),
        ("WITH t AS (SELECT id FROM x) DELETE FROM x WHERE id IN (SELECT id FROM t)", False),
        ("WITHOUT_A_KEYWORD", False),
        ("INSERT INTO x VALUES (1)", False),
        ("UPDATE x SET v = 1", False),
    ],
)
def test_only_statements_that_cannot_write_count_as_reads(sql: str, read: bool) -> None:
    # A read runs at once beside a write transaction; a write queues for the write lock.
    assert _is_read(sql) is read


async def test_a_select_with_a_cte_runs_while_a_transaction_holds_the_write_lock(probe: str) -> None:
    async with transaction():
        # Another request's CTE read, while this transaction holds the write lock: it does not queue behind it.
        read = asyncio.create_task(
            fetch(f"WITH t AS (SELECT count(*) AS c FROM {TABLE}) SELECT c FROM t"), context=contextvars.Context()
        )
        for _ in range(10_000):  # loop steps, not time
            if read.done():
                break
            await asyncio.sleep(0)
        done = read.done()
        if not done:
            read.cancel()
        assert done, "the CTE read waited for the write lock"
        assert read.result() == [{"c": 0}]


async def test_is_sqlite_matches_the_configured_database() -> None:
    assert is_sqlite() == get_settings().is_sqlite
