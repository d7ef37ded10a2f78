"""Engine-neutral database helpers (transactions, raw SQL, placeholders) and the pooled SQLite engine."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

# Statements that only read; anything else is treated as a write and queued behind the process's write lock.
_READ_PREFIXES = ("SELECT", "EXPLAIN")


# SQLite result codes after which a statement tried on the loop's own connection is retried on a pooled one.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_INTERRUPT = 5, 6, 9


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_READ_PREFIXES)


class _Pool:
    """Open connections and the write lock of one event loop (asyncio primitives belong to a loop)."""

    def __init__(self, engine: PooledSQLiteEngine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.idle: list[aiosqlite.Connection] = []
        self.opened: set[aiosqlite.Connection] = set()
        self.slots = asyncio.Semaphore(engine.pool_size)
        self.write_lock = asyncio.Lock()
        self.direct: sqlite3.Connection | None = None
        self.deadline = 0.0

    def _over_budget(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0

    def _open_direct(self) -> sqlite3.Connection:
        kwargs = {**self.engine.connection_kwargs, "timeout": 0, "check_same_thread": False}
        conn = sqlite3.connect(**kwargs)
        conn.row_factory = dict_factory
        conn.execute("PRAGMA foreign_keys = 1")
        conn.execute("PRAGMA busy_timeout = 0")
        for pragma in self.engine.pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.set_progress_handler(self._over_budget, 1000)
        self.direct = conn
        return conn

    def try_direct(self, query: str, args: list[Any] | None, write: bool) -> list[dict] | None:
        """Run one autocommit statement on the loop's own connection, without a thread hop.

        It never waits: busy (another writer holds the lock) or over the time budget, it is abandoned (the
        statement rolls back) and None tells the caller to run it on a pooled connection instead.
        """
        if write and self.write_lock.locked():
            return None
        conn = self.direct or self._open_direct()
        self.deadline = time.perf_counter() + self.engine.direct_budget
        cursor = conn.cursor()
        try:
            cursor.execute(query, args or ())
            return cursor.fetchall()
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_INTERRUPT):
                return None
            raise
        finally:
            cursor.close()

    async def acquire(self) -> aiosqlite.Connection:
        await self.slots.acquire()
        try:
            if self.idle:
                return self.idle.pop()
            conn = await self.engine.open_connection()
            self.opened.add(conn)
            return conn
        except BaseException:
            self.slots.release()
            raise

    def release(self, conn: aiosqlite.Connection, discard: bool = False) -> None:
        """Give a connection back; one left inside a transaction (or marked bad) is closed, which rolls back."""
        try:
            if discard or conn.in_transaction:
                self.opened.discard(conn)
                conn.stop()
            else:
                self.idle.append(conn)
        except ValueError:  # the connection is already closed
            self.opened.discard(conn)
        finally:
            self.slots.release()

    async def lock_writes(self) -> None:
        """Take the write lock, waiting as long as SQLite's own busy timeout would before 'database is locked'."""
        try:
            async with asyncio.timeout(self.engine.busy_timeout):
                await self.write_lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def stop_all(self) -> None:
        for conn in list(self.opened):
            with contextlib.suppress(Exception):
                conn.stop()
        self.opened.clear()
        self.idle.clear()
        if self.direct is not None:
            with contextlib.suppress(Exception):
                self.direct.close()
            self.direct = None


class PooledSQLiteTransaction(SQLiteTransaction):
    """A Piccolo SQLite transaction on a pooled connection; IMMEDIATE/EXCLUSIVE ones hold the write lock."""

    __slots__ = ("_locked", "_pool")

    async def __aenter__(self) -> PooledSQLiteTransaction:
        if self._parent is not None:
            return self._parent
        engine: PooledSQLiteEngine = self.engine  # type: ignore[assignment]
        self._pool = engine.connections()
        self._locked = self.transaction_type is not TransactionType.deferred
        if self._locked:
            await self._pool.lock_writes()
        try:
            self.connection = await self._pool.acquire()
            try:
                await self.begin()
            except BaseException:
                self._pool.release(self.connection, discard=True)
                raise
        except BaseException:
            if self._locked:
                self._pool.write_lock.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
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
            self._pool.release(self.connection, discard=not ok)
            if self._locked:
                self._pool.write_lock.release()
        return exception is None


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine with long-lived connections instead of one new connection (and thread) per query.

    Each connection is configured once: foreign keys on, `synchronous=NORMAL` (the WAL setting: durable across
    crashes of the application, may lose the last commits on power loss), the busy timeout. Queries outside a
    transaction borrow a connection for one statement; a transaction keeps its own connection until it ends, so
    concurrent requests never share one. Writes in this process queue on an asyncio lock instead of spinning in
    SQLite's busy handler; other processes (workers) still meet the busy timeout.
    """

    __slots__ = ("_pools", "_pools_guard", "busy_timeout", "direct_budget", "pool_size", "pragmas")

    def __init__(
        self,
        path: str = "piccolo.sqlite",
        timeout: float = 30.0,
        pool_size: int = 8,
        pragmas: Sequence[str] = ("synchronous = NORMAL",),
        direct_budget: float | None = 0.002,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(path=path, timeout=timeout, **connection_kwargs)
        self.busy_timeout = timeout
        self.pool_size = pool_size
        self.direct_budget = direct_budget
        self.pragmas = tuple(pragmas)
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._pools_guard = threading.Lock()
        atexit.register(self.stop_connections)

    async def open_connection(self) -> aiosqlite.Connection:
        """A new configured connection (its worker thread does not keep the process alive)."""
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
        """The pool of the running event loop; pools of closed loops are dropped."""
        loop = asyncio.get_running_loop()
        found = self._pools.get(loop)
        if found is not None:
            return found
        with self._pools_guard:
            for old_loop in [lp for lp in self._pools if lp.is_closed()]:
                self._pools.pop(old_loop).stop_all()
            return self._pools.setdefault(loop, _Pool(self, loop))

    async def start_connection_pool(self, **kwargs: Any) -> None:
        """Connections open on first use; nothing to do."""

    async def close_connection_pool(self) -> None:
        """Close the idle connections of the running loop's pool."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            for conn in list(pool.idle):
                pool.opened.discard(conn)
                await conn.close()
            pool.stop_all()

    def stop_connections(self) -> None:
        """Close every pooled connection from its own thread (process exit)."""
        with self._pools_guard:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop_all()

    async def _execute(self, conn: aiosqlite.Connection, query: str, args: list[Any] | None) -> list[dict]:
        # One hop to the connection's thread: execute and fetch together.
        return list(await conn.execute_fetchall(query, args or []))

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> list[dict]:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_new_connection(query, args, query_type, table)
        pool = self.connections()
        read = _is_read(query)
        if self.direct_budget:
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
            conn = await pool.acquire()
            try:
                return await self._execute(conn, query, args)
            finally:
                pool.release(conn)
        finally:
            pool.write_lock.release()

    async def _run_in_existing_connection(
        self, connection: Any, query: str, args: list[Any] | None = None, query_type: str = "generic", table: Any = None
    ) -> list[dict]:
        if query_type == "insert" and self.get_version_sync() < 3.35:
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        return await self._execute(connection, query, args)

    def transaction(
        self, transaction_type: TransactionType = TransactionType.deferred, allow_nested: bool = True
    ) -> PooledSQLiteTransaction:
        return PooledSQLiteTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


def engine() -> Engine:
    """The configured Piccolo engine."""
    db = engine_finder()
    assert db is not None, "no Piccolo engine configured"
    return db


def is_sqlite() -> bool:
    """True on the embedded SQLite default."""
    return isinstance(engine(), SQLiteEngine)


def transaction() -> Any:
    """A write transaction; on SQLite it takes the write lock at BEGIN so read-then-write cannot deadlock."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL with Piccolo `{}` placeholders and return rows as dicts."""
    from app.tables.stores import Store  # any table can carry a raw query

    return await Store.raw(sql, *args)


async def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Bulk insert/update with the driver's executemany, all rows in one transaction (the current one if any).

    `sql` uses `?` placeholders on SQLite, `$n` on PostgreSQL.
    """
    db = engine()
    current = db.current_transaction.get() if hasattr(db, "current_transaction") else None
    if current is not None:
        await current.connection.executemany(sql, rows)
        return
    if isinstance(db, SQLiteEngine):
        # Without an explicit transaction every row would be its own commit (and fsync).
        async with db.transaction(transaction_type=TransactionType.immediate) as tx:
            await tx.connection.executemany(sql, rows)
        return
    # asyncpg's executemany is atomic by itself.
    pool = getattr(db, "pool", None)
    if pool is not None:
        async with pool.acquire() as conn:
            await conn.executemany(sql, rows)
        return
    conn = await db.get_new_connection()
    try:
        await conn.executemany(sql, rows)
    finally:
        await conn.close()


def placeholders(count: int, start: int = 1) -> str:
    """`?, ?, ?` on SQLite, `$1, $2, $3` on PostgreSQL, for `execute_many`."""
    if is_sqlite():
        return ", ".join("?" for _ in range(count))
    return ", ".join(f"${i}" for i in range(start, start + count))
