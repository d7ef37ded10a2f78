"""Piccolo engine chosen from settings: SQLite under the data directory or PostgreSQL."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from app.db import PooledSQLiteEngine
from app.settings import get_settings


def build_engine(database_url: str, sqlite_synchronous: str = "FULL") -> Engine:
    """An engine for a `sqlite:///path` or `postgres://user@host/db` URL."""
    if database_url.startswith("sqlite"):
        # timeout = busy timeout: writers wait for the lock instead of failing. Every connection of the process
        # (web, worker, CLI, imports) comes from this engine, so all of them get the same `synchronous`.
        return PooledSQLiteEngine(
            path=database_url.removeprefix("sqlite:///"),
            timeout=30,
            pragmas=(f"synchronous = {sqlite_synchronous}",),
        )
    url = urlparse(database_url)
    config = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": unquote(url.username or "postgres"),
        "database": url.path.lstrip("/"),
    }
    if url.password:
        config["password"] = unquote(url.password)
    return PostgresEngine(config=config)


DB = build_engine(get_settings().database_url, get_settings().sqlite_synchronous)
