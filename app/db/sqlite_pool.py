"""The pooled SQLite engine of the embedded default: one writer, readers on a pool, commits on a commit thread."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import decimal
import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

log = logging.getLogger("yaoshi.db")
T = TypeVar("T")

# Statements that only read; anything else is treated as a write and queued behind the process's write lock.
_READ_PREFIXES = ("SELECT", "EXPLAIN")
# A statement starting with WITH writes when a data-changing keyword appears in it as a word outside quotes.
_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE|UPSERT)\b", re.IGNORECASE)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
# SQLite primary result codes.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_INTERRUPT, _SQLITE_CORRUPT = 5, 6, 9, 11


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:7].upper()
    if head.startswith(_READ_PREFIXES):
        return True
    if head.startswith("WITH") and not head[4:5].isalnum() and head[4:5] != "_":
        # A CTE that only selects reads; one with INSERT/UPDATE/DELETE/REPLACE anywhere (outside string literals
        # and quoted names) is a write. A false "write" only costs a wait for the write lock, never correctness.
        return not _WRITE_WORDS.search(_QUOTED.sub("", sql))
    return False


# `synchronous` settings under which a WAL COMMIT does not wait for an fsync.
_RELAXED = re.compile(r"synchronous\s*=\s*(normal|off|0|1)", re.IGNORECASE)


# Log length (frames, ~4 KiB each) from which a checkpoint makes the log start over (see `_Pool.checkpoint`).
_RESTART_FRAMES = 16_384


class TransactionLost(sqlite3.OperationalError):
    """A statement of a transaction found its connection outside any transaction: SQLite had rolled the whole
    transaction back after an earlier error (disk full, I/O error, `INSERT OR ROLLBACK` …). Run there, the
    statement would have committed on its own; a SAVEPOINT would have opened a new transaction of its own."""

    def __init__(self) -> None:
        super().__init__(
            "the transaction was rolled back by SQLite after an earlier error; nothing of it was kept, and no"
            " later statement of it runs"
        )


class _Pool:
    """The connections and the write lock of one event loop (asyncio primitives belong to a loop).

    `tx_direct` and `direct` are plain sqlite3 connections used on the loop's own thread (short transactions and
    single statements); the aiosqlite connections (one worker thread each) serve the other transactions and
    whatever the loop's connections give up on.
    """

    def __init__(self, engine: PooledSQLiteEngine) -> None:
        self.engine = engine
        self.idle: list[aiosqlite.Connection] = []
        self.opened: dict[aiosqlite.Connection, int] = {}  # connection -> generation it was opened in
        self.generation = 0
        self.slots = asyncio.Semaphore(engine.pool_size)
        self.write_lock = asyncio.Lock()
        # The loop thread's main connection: short write transactions (`transaction(short=True)`, only by the
        # holder of `write_lock`, so one at a time, each its own BEGIN IMMEDIATE … COMMIT) and, while none is
        # open, `try_direct`'s autocommit statements.
        self.tx_direct: sqlite3.Connection | None = None
        # The second loop connection, for autocommit reads while a short transaction is open on the first: they
        # must not see its uncommitted writes, so nothing but that transaction runs on the first meanwhile.
        self.direct: sqlite3.Connection | None = None
        self.deadline = 0.0  # of the second connection's statement
        self.shared_deadline = math.inf  # of the main connection's autocommit statement
        self.checkpoint_due: asyncio.TimerHandle | None = None
        self.checkpoint_task: asyncio.Task | None = None
        # With a `synchronous` that syncs the log at every COMMIT (FULL), the main connection's commits run on
        # this thread: the fsync (1-30 ms on a shared disk) must not stall the loop. Meanwhile `main_busy` keeps
        # every other statement off that connection (reads go to the second one; writes wait for the lock,
        # which the committer holds).
        self.committer: ThreadPoolExecutor | None = None
        self.main_busy = False

    async def acquire(self) -> aiosqlite.Connection:
        await self.slots.acquire()
        try:
            if self.idle:
                return self.idle.pop()
            conn = await self.engine.open_connection()
            self.opened[conn] = self.generation
            return conn
        except BaseException:
            self.slots.release()
            raise

    def release(self, conn: aiosqlite.Connection, discard: bool = False) -> None:
        """Give a connection back; one left inside a transaction, stale or marked bad is closed (rolling back)."""
        try:
            if discard or conn.in_transaction or self.opened.get(conn) != self.generation:
                self.opened.pop(conn, None)
                conn.stop()
            else:
                self.idle.append(conn)
        except ValueError:  # already closed
            self.opened.pop(conn, None)
        finally:
            self.slots.release()

    async def lock_writes(self) -> None:
        """Take the write lock, waiting as long as SQLite's busy timeout would before 'database is locked'."""
        try:
            async with asyncio.timeout(self.engine.busy_timeout):
                await self.write_lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def _over_budget(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0

    def _connect_on_loop(self) -> sqlite3.Connection:
        """A plain sqlite3 connection for the loop's thread: busy timeout 0 (it never waits), no auto-checkpoint."""
        conn = sqlite3.connect(**{**self.engine.connection_kwargs, "timeout": 0, "check_same_thread": False})
        try:
            # Rows come back as tuples and become dicts once per result (`_dicts`), not through a Python row
            # factory called for every row.
            conn.execute("PRAGMA foreign_keys = 1")
            for pragma in self.engine.pragmas:
                conn.execute(f"PRAGMA {pragma}")
            # Its commits would otherwise run the WAL checkpoint (and its fsync) on the loop's thread.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            # Its statements are short, so their temporary B-trees (an `IN (…)` list, a subquery's rows, a sort)
            # are tiny: in memory each costs a few µs, where opening one on the temporary-file pager cost ~90 µs
            # of system time (brk, fcntl, stat). Pooled connections, which run the long statements (reports,
            # imports), keep temporary files.
            conn.execute("PRAGMA temp_store = MEMORY")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_direct(self) -> sqlite3.Connection:
        conn = self._connect_on_loop()
        conn.set_progress_handler(self._over_budget, 1000)
        self.direct = conn
        return conn

    def _open_shared(self) -> sqlite3.Connection:
        """The loop's main connection: short transactions and, between them, autocommit statements. One
        connection for both keeps one page cache warm; two would each drop theirs whenever the other wrote."""
        conn = self._connect_on_loop()
        # Its own deadline: set for each autocommit statement, infinite from BEGIN on (a transaction's statements,
        # its COMMIT included, are never interrupted), whatever the second connection's statements set meanwhile.
        conn.set_progress_handler(lambda: 1 if time.perf_counter() > self.shared_deadline else 0, 1000)
        self.tx_direct = conn
        return conn

    def commit_thread(self) -> ThreadPoolExecutor:
        if self.committer is None:
            self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yaoshi-commit")
        return self.committer

    async def _on_commit_thread(self, call: Callable[..., T], *args: Any) -> T:
        """Run `call(*args)`, which uses the main connection, on the commit thread (the caller holds `write_lock`).

        A cancellation waits for it to end first: the connection must not be used by two threads, nor the
        transaction's end be left unknown."""
        done = asyncio.get_running_loop().run_in_executor(self.commit_thread(), call, *args)
        self.main_busy = True
        cancelled = False
        try:
            while not done.done():
                try:
                    await asyncio.wait([done])
                except asyncio.CancelledError:
                    cancelled = True
        finally:
            self.main_busy = False
        if cancelled:
            raise asyncio.CancelledError()
        return done.result()

    def begin_on_loop(self, kind: TransactionType) -> _LoopConnection | None:
        """BEGIN a short write transaction on the loop's main connection (the caller holds `write_lock`), or None
        when another process holds SQLite's write lock (or the file is busy): the caller then waits for it on a
        pooled connection's thread, as usual. Once BEGIN IMMEDIATE succeeded nothing else in the transaction
        waits on a lock (WAL: the writer holds the only write lock; readers never block it)."""
        # A transaction's statements, its COMMIT included, are never interrupted (an autocommit read set one).
        self.shared_deadline = math.inf
        try:
            conn = self.tx_direct or self._open_shared()
            conn.execute(f"BEGIN {kind.value}")
        except sqlite3.OperationalError as exc:
            if _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return None
            raise
        return _LoopConnection(conn)

    async def end_on_loop(self, conn: _LoopConnection, ok: bool) -> None:
        """End a short transaction on the loop's connection (the caller still holds `write_lock`): COMMIT when
        `ok`, else ROLLBACK; raise if the COMMIT failed, after rolling back whatever SQLite left open.

        The COMMIT runs before the write lock is let go and before the block's caller hears of the outcome: no
        other statement of this process runs on the connection between the transaction's last statement and the
        end of its COMMIT, and none reads its writes before they are committed (autocommit reads meanwhile use
        the second connection). It runs on the loop's thread, or on the commit thread when it syncs the log
        (`_on_commit_thread`). A connection that could not be rolled back, or that was replaced meanwhile
        (`renew`), is closed; after a commit the WAL checkpoint its commit did not run is scheduled.
        """
        raw = conn.raw
        try:
            if ok:
                if not raw.in_transaction:
                    raise TransactionLost()
                if self.engine.commit_syncs:
                    await self._on_commit_thread(raw.execute, "COMMIT")
                else:
                    raw.execute("COMMIT")
        finally:
            if raw.in_transaction:
                # Not ok, or a COMMIT that failed (SQLITE_FULL, an I/O error, a deferred constraint): SQLite may
                # leave the transaction open; nothing of it may stay.
                try:
                    raw.execute("ROLLBACK")
                except sqlite3.Error:
                    with contextlib.suppress(Exception):
                        raw.close()
                    if self.tx_direct is raw:
                        self.tx_direct = None
            if self.tx_direct is not raw:
                with contextlib.suppress(Exception):
                    raw.close()
        if ok:
            self._checkpoint_soon()

    def try_direct(
        self, query: str, args: list[Any] | None, write: bool, holding_lock: bool = False
    ) -> list[dict] | None:
        """Run one autocommit statement on the loop's thread, or return None to have it run on a pooled connection.

        It never waits: when another connection holds the write lock (busy timeout 0) or a read runs past
        `direct_budget` (progress handler), SQLite abandons and rolls back the statement and the caller retries it
        where waiting is harmless. So a point query costs no thread hop, and a slow read blocks the loop ~2 ms
        (writes run to the end: requests only make short indexed ones; set-based jobs run in the worker). A write
        whose commit syncs the log does not come here but to `write_on_commit_thread`.
        """
        if write and self.write_lock.locked() and not holding_lock:
            return None
        try:
            conn = self.tx_direct or self._open_shared()
            if self.main_busy or conn.in_transaction:
                # A short transaction is open on the loop (its block awaited something, or its COMMIT is running
                # on the commit thread): its uncommitted writes must stay unseen, so this statement runs on the
                # second loop connection.
                conn = self.direct or self._open_direct()
        except sqlite3.OperationalError as exc:
            # Opening reads the schema: busy while another process (a worker's import) checkpoints or writes.
            if _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return None
            raise
        # Only reads have a budget: SQLite may report a write interrupted after it committed (the progress
        # handler also runs as the statement returns), and retrying it elsewhere would apply it twice.
        deadline = math.inf if write else time.perf_counter() + self.engine.direct_budget
        if conn is self.tx_direct:
            self.shared_deadline = deadline
        else:
            self.deadline = deadline
        cursor = conn.cursor()
        try:
            cursor.execute(query, args or ())
            rows = _dicts(cursor)
            if write:
                self._checkpoint_soon()
            return rows
        except sqlite3.OperationalError as exc:
            if _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_INTERRUPT):
                return None
            raise
        finally:
            cursor.close()

    async def write_on_commit_thread(self, query: str, args: list[Any] | None) -> list[dict] | None:
        """`try_direct` for an autocommit write whose commit syncs the log (the caller holds `write_lock`): on the
        main connection, from the commit thread. None when another process holds SQLite's write lock."""
        try:
            conn = self.tx_direct or self._open_shared()
        except sqlite3.OperationalError as exc:
            if _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return None
            raise
        self.shared_deadline = math.inf  # a write is never interrupted (see `try_direct`)

        def run() -> list[dict] | None:
            cursor = conn.cursor()
            try:
                cursor.execute(query, args or ())
                return _dicts(cursor)
            except sqlite3.OperationalError as exc:
                if _code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
                    return None
                raise
            finally:
                cursor.close()

        try:
            rows = await self._on_commit_thread(run)
        finally:
            if self.tx_direct is not conn:  # replaced meanwhile (`renew`)
                with contextlib.suppress(Exception):
                    conn.close()
        if rows is not None:
            self._checkpoint_soon()
        return rows

    def _checkpoint_soon(self) -> None:
        """After a commit on a loop connection (which never checkpoints itself): one `checkpoint_delay` later."""
        if self.checkpoint_due is None:
            self.checkpoint_due = asyncio.get_running_loop().call_later(
                self.engine.checkpoint_delay, self._start_checkpoint
            )

    def _start_checkpoint(self) -> None:
        self.checkpoint_due = None
        if self.checkpoint_task is None or self.checkpoint_task.done():
            self.checkpoint_task = asyncio.get_running_loop().create_task(self.checkpoint())

    async def checkpoint(self) -> None:
        """Copy the WAL back into the database on a pooled connection's thread (PASSIVE: nobody waits), and
        start the log over when it has grown long under steady writes.

        SQLite starts the log from the top of its file only when a write begins with every frame copied. Under
        steady writes a pass never catches up (frames are added while it copies), so the file grew without bound,
        and appending to a file costs each commit ~3 times what overwriting does. So once the log is long, a
        second pass copies what came in during the first, and a third, holding this process's write lock
        (writers queue for it, readers do not), the little that came in during the second.
        """
        try:
            conn = await self.acquire()
            try:
                for attempt in range(3):
                    if attempt == 2:
                        await self.lock_writes()
                    try:
                        rows = await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
                    finally:
                        if attempt == 2:
                            self.write_lock.release()
                    busy, logged, _copied = rows[0].values() if rows else (1, 0, 0)
                    # Frames left behind (copied < logged) do not end it: a write in flight on the loop holds
                    # its read mark below the frame it is committing for a moment, and the last pass, which no
                    # writer of this process overlaps, copies them. A reader of another process that keeps an
                    # old snapshot costs three passes over what is left and a brief hold of the write lock.
                    if busy or logged < _RESTART_FRAMES:
                        break  # short enough, or another connection is checkpointing (the next write retries)
            finally:
                self.release(conn)
        except Exception as exc:  # the next write schedules another one
            log.debug("WAL checkpoint skipped: %s", exc)

    def renew(self) -> None:
        """Replace every connection: idle ones now, busy ones when they come back."""
        self.generation += 1
        for conn in self.idle:
            self.opened.pop(conn, None)
            with contextlib.suppress(Exception):
                conn.stop()
        self.idle.clear()
        for conn in (self.direct, None if self.main_busy else self.tx_direct):
            if conn is not None and not conn.in_transaction:
                with contextlib.suppress(Exception):
                    conn.close()
        self.direct = None
        # One in use is closed by `end_on_loop` when its transaction ends (or by the commit thread's caller).
        self.tx_direct = None
        if self.checkpoint_due is not None:
            self.checkpoint_due.cancel()
            self.checkpoint_due = None

    def stop_all(self) -> None:
        self.renew()
        if self.committer is not None:
            self.committer.shutdown(wait=False)
            self.committer = None
        for conn in list(self.opened):
            with contextlib.suppress(Exception):
                conn.stop()
        self.opened.clear()


class _TxConnection:
    """The connection a transaction holds, with the awaitable surface that Piccolo's transaction and this module
    use on it (execute, execute_fetchall, executemany, in_transaction). Every statement first checks that the
    transaction is still open (see `TransactionLost`)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def _open(self) -> Any:
        if not self.raw.in_transaction:
            raise TransactionLost()
        return self.raw


class _LoopConnection(_TxConnection):
    """A short transaction's connection on the loop's thread: each call runs at once, with no hop to a worker
    thread and back per statement."""

    __slots__ = ()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._open().execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict]:
        cursor = self._open().execute(sql, parameters)
        try:
            return _dicts(cursor)
        finally:
            cursor.close()

    async def executemany(self, sql: str, rows: Any) -> None:
        self._open().executemany(sql, rows)


class _PooledTxConnection(_TxConnection):
    """A pooled aiosqlite connection while a transaction holds it."""

    __slots__ = ()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        return await self._open().execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict]:
        return list(await self._open().execute_fetchall(sql, parameters))

    async def executemany(self, sql: str, rows: Any) -> None:
        await self._open().executemany(sql, rows)


def _dicts(cursor: sqlite3.Cursor) -> list[dict]:
    """The cursor's remaining rows as dicts keyed by column name (what Piccolo's row factory gives, cheaper)."""
    rows = cursor.fetchall()
    if not rows:
        return rows
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


# Piccolo's converters for these declared types decode bytes to str and, for INTEGER, go through Decimal for
# every value read; the same results, without the detours (an integer column's values are nearly always ints).
def _int_out(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:  # a float or text stored in an INTEGER column, which SQLite allows
        return int(decimal.Decimal(value.decode()))


sqlite3.register_converter("INTEGER", _int_out)
sqlite3.register_converter("BOOLEAN", lambda value: value == b"1")
sqlite3.register_converter("DATE", lambda value: datetime.date.fromisoformat(value.decode()))
sqlite3.register_converter("TIMESTAMP", lambda value: datetime.datetime.fromisoformat(value.decode()))
sqlite3.register_converter(
    "TIMESTAMPTZ", lambda value: datetime.datetime.fromisoformat(value.decode()).replace(tzinfo=datetime.UTC)
)


def _code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


class PooledSQLiteTransaction(SQLiteTransaction):
    """A Piccolo SQLite transaction on a pooled connection; IMMEDIATE/EXCLUSIVE ones hold the write lock.

    A `short` write transaction (a handful of indexed statements, e.g. a sale or a cart change) runs on the loop
    thread's own connection instead, once it holds the write lock and SQLite's lock is free at once: each statement
    then costs no round trip to a worker thread. Either way it is its own BEGIN IMMEDIATE … COMMIT, one writer at
    a time, and its block returns only after its COMMIT succeeded (it raises otherwise, with nothing kept). The
    price of the loop's connection is that its statements block the loop while they run, so long statements do
    not belong in one.

    Every statement of the transaction (a nested `transaction()` block's and a savepoint's too) first checks that
    the transaction is still open: after SQLite rolled it back by itself (SQLITE_FULL, an I/O error …) a statement
    would commit on its own and a SAVEPOINT would begin a new transaction, so they raise `TransactionLost`.
    """

    __slots__ = ("_locked", "_on_loop", "_pool", "_short")

    def __init__(self, *args: Any, short: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._short = short
        self._on_loop = False

    async def __aenter__(self) -> PooledSQLiteTransaction:
        if self._parent is not None:
            # A nested block joins the outer transaction, which must still be open.
            if not self._parent.connection.in_transaction:
                raise TransactionLost()
            return self._parent
        engine: PooledSQLiteEngine = self.engine  # type: ignore[assignment]
        self._pool = engine.connections()
        self._locked = self.transaction_type is not TransactionType.deferred
        if self._locked:
            await self._pool.lock_writes()
        try:
            on_loop = None
            if self._locked and self._short and engine.direct_budget:
                on_loop = self._pool.begin_on_loop(self.transaction_type)
            if on_loop is not None:
                self.connection = on_loop
                self._on_loop = True
            else:
                raw = await self._pool.acquire()
                try:
                    await raw.execute(f"BEGIN {self.transaction_type.value}")
                except BaseException:
                    self._pool.release(raw, discard=True)
                    raise
                self.connection = _PooledTxConnection(raw)
        except BaseException:
            if self._locked:
                self._pool.write_lock.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def commit(self) -> None:
        if self._on_loop:
            raise NotImplementedError("a short transaction commits when its block ends")
        await super().commit()  # the connection's check raises TransactionLost if SQLite rolled it back

    async def rollback(self) -> None:
        if self._on_loop:
            raise NotImplementedError("a short transaction rolls back when its block raises")
        if self.connection.in_transaction:
            await self.connection.raw.execute("ROLLBACK")
        self._rolled_back = True  # by SQLite already, if it was not open any more

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            # The outer transaction goes on after a nested block that ended well only if it is still open.
            if exception is None and not self._parent.connection.in_transaction:
                raise TransactionLost()
            return exception is None
        if self._on_loop:
            return await self._end_on_loop(exception)
        ok = False
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
            ok = True
        finally:
            self.engine.current_transaction.reset(self.context)
            if isinstance(exception, sqlite3.DatabaseError) and _code(exception) == _SQLITE_CORRUPT:
                self._pool.renew()
            self._pool.release(self.connection.raw, discard=not ok)
            if self._locked:
                self._pool.write_lock.release()
        return exception is None

    async def _end_on_loop(self, exception: BaseException | None) -> bool:
        try:
            await self._pool.end_on_loop(self.connection, ok=exception is None)
            self._committed = exception is None
        finally:
            self.engine.current_transaction.reset(self.context)
            if isinstance(exception, sqlite3.DatabaseError) and _code(exception) == _SQLITE_CORRUPT:
                self._pool.renew()
            self._pool.write_lock.release()
        return exception is None


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine with long-lived connections instead of a new connection (and thread) per query.

    Every connection is configured once: foreign keys on, `pragmas` (by default `synchronous = FULL`: with WAL,
    each COMMIT waits for the log to be on disk, so an acknowledged write survives a power cut or an OS crash;
    NORMAL would leave the last commits to the next checkpoint's fsync) and the busy timeout. Such a COMMIT on the
    loop's main connection (a short transaction's, an autocommit write's) runs on the pool's commit thread, so
    the fsync never stalls the loop (`_Pool._on_commit_thread`); with NORMAL it runs on the loop itself.
    A statement outside a transaction runs on the loop's own connection when it can do so at once (see
    `_Pool.try_direct`), otherwise on a pooled connection. A transaction keeps one connection to itself until it
    ends (a short one the loop's main connection, any other a pooled one), so concurrent requests never share a
    transaction and nothing reads another's uncommitted writes. Writers in this process queue on an asyncio lock
    (IMMEDIATE transactions hold it throughout, their COMMIT included) instead of sleeping in SQLite's busy
    handler; other processes (the worker, the CLI, other web processes) still meet the busy timeout. WAL
    checkpoints after the loop's own writes run on a pooled connection's thread `checkpoint_delay` seconds later
    (PASSIVE), so their fsync never stalls the loop (it still runs slower while one copies: every statement ~1.5×
    as long, measured; a delay of 2 s instead of 0.5 made that rarer but each statement dearer, as a longer log is
    searched for every page read).
    """

    __slots__ = (
        "_pools",
        "_pools_guard",
        "busy_timeout",
        "checkpoint_delay",
        "commit_syncs",
        "direct_budget",
        "pool_size",
        "pragmas",
    )

    def __init__(
        self,
        path: str = "piccolo.sqlite",
        timeout: float = 30.0,
        pool_size: int = 8,
        pragmas: Sequence[str] = ("synchronous = FULL",),
        direct_budget: float | None = 0.002,
        checkpoint_delay: float = 0.5,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(path=path, timeout=timeout, **connection_kwargs)
        self.busy_timeout = timeout
        self.pool_size = pool_size
        self.direct_budget = direct_budget
        self.checkpoint_delay = checkpoint_delay
        self.pragmas = tuple(pragmas)
        # A COMMIT that waits for the log's fsync (WAL with FULL or EXTRA): off the loop's thread.
        self.commit_syncs = not any(_RELAXED.fullmatch(pragma.strip()) for pragma in self.pragmas)
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._pools_guard = threading.Lock()
        atexit.register(self.stop_connections)

    async def open_connection(self) -> aiosqlite.Connection:
        """A new configured aiosqlite connection (its worker thread does not keep the process alive)."""
        conn = aiosqlite.connect(**self.connection_kwargs)
        thread = getattr(conn, "_thread", None)
        if thread is not None:
            thread.daemon = True
        await conn
        conn.row_factory = dict_factory  # type: ignore[assignment]
        try:
            await conn.execute("PRAGMA foreign_keys = 1")
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            for pragma in self.pragmas:
                await conn.execute(f"PRAGMA {pragma}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def get_connection(self) -> aiosqlite.Connection:
        """A connection the caller owns and closes (Piccolo's batch queries)."""
        return await self.open_connection()

    def connections(self) -> _Pool:
        """The running event loop's pool; pools of closed loops are dropped."""
        loop = asyncio.get_running_loop()
        found = self._pools.get(loop)
        if found is not None:
            return found
        with self._pools_guard:
            for old_loop in [lp for lp in self._pools if lp.is_closed()]:
                self._pools.pop(old_loop).stop_all()
            return self._pools.setdefault(loop, _Pool(self))

    async def start_connection_pool(self, **kwargs: Any) -> None:
        """Connections open on first use; nothing to do."""

    async def close_connection_pool(self) -> None:
        """Close the running loop's connections (idle ones cleanly, busy ones when their thread is free)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            # A checkpoint still copying on a pooled thread would answer a loop that is about to close.
            if pool.checkpoint_due is not None:
                pool.checkpoint_due.cancel()
                pool.checkpoint_due = None
            if pool.checkpoint_task is not None and not pool.checkpoint_task.done():
                await asyncio.wait([pool.checkpoint_task])
            for conn in pool.idle:
                pool.opened.pop(conn, None)
                await conn.close()
            pool.idle.clear()
            pool.stop_all()

    def stop_connections(self) -> None:
        """Close every connection (at process exit)."""
        with self._pools_guard:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop_all()

    async def _execute(self, conn: aiosqlite.Connection, query: str, args: list[Any] | None) -> list[dict]:
        # One hop to the connection's thread: execute and fetch together.
        return list(await conn.execute_fetchall(query, args or []))

    async def _run_once(self, pool: _Pool, query: str, args: list[Any] | None) -> list[dict]:
        read = _is_read(query)
        if self.direct_budget and (read or not self.commit_syncs):
            rows = pool.try_direct(query, args, write=not read)
            if rows is not None:
                return rows
        if read:
            conn = await pool.acquire()
            try:
                return await self._execute(conn, query, args)
            finally:
                pool.release(conn)
        await pool.lock_writes()
        try:
            # Still on the loop's connection if SQLite's lock is free now (it waited only for this process's lock,
            # e.g. a checkpoint's last pass): a pooled connection's commit would empty the loop connections' page
            # caches (SQLite drops a connection's cache when another connection has written).
            rows = None
            if self.direct_budget:
                if self.commit_syncs:
                    rows = await pool.write_on_commit_thread(query, args)
                else:
                    rows = pool.try_direct(query, args, write=True, holding_lock=True)
            if rows is not None:
                return rows
            conn = await pool.acquire()
            try:
                return await self._execute(conn, query, args)
            finally:
                pool.release(conn)
        finally:
            pool.write_lock.release()

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> list[dict]:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_new_connection(query, args, query_type, table)
        pool = self.connections()
        try:
            return await self._run_once(pool, query, args)
        except sqlite3.DatabaseError as exc:
            if _code(exc) != _SQLITE_CORRUPT:
                raise
            # Long-lived connections lose their POSIX locks when anything in this process opens and closes the
            # database file itself (sqlite.org/howtocorrupt.html 2.2); fresh connections see the file as it is.
            # A statement outside a transaction is atomic, so it is safe to run it once more; real corruption
            # fails again and is raised.
            log.warning("SQLite reported %s; reopening the connections and retrying once", exc)
            pool.renew()
            return await self._run_once(pool, query, args)

    async def _run_in_existing_connection(
        self, connection: Any, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> list[dict]:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        return await self._execute(connection, query, args)

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
        short: bool = False,
    ) -> PooledSQLiteTransaction:
        return PooledSQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested, short=short
        )
