"""The `yaoshi` command: run, migrate, seed, users and API tokens."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import click

from app.components.core.roles import HQ_ROLES, STORE_ROLES, Role

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine with the database pool open for it."""

    async def wrapper() -> T:
        from app.db import engine
        from app.settings import get_settings

        pooled = not get_settings().is_sqlite
        if pooled:
            await engine().start_connection_pool(min_size=1, max_size=4)
        try:
            return await coro
        finally:
            if pooled:
                await engine().close_connection_pool()

    return asyncio.run(wrapper())


def _fail(message: str) -> None:
    click.echo(f"yaoshi: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Yaoshi (药师): customer care for pharmacy chains."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from app.tables.migrate import migrate as do_migrate

    applied = _run(do_migrate())
    click.echo("migrations applied: " + (", ".join(applied) if applied else "none (up to date)"))


@main.group()
def seed() -> None:
    """Load demo or synthetic data."""


@seed.command("demo")
def seed_demo() -> None:
    """Demo stores, a login for every role and demo members (only into an empty database)."""
    from app.components.seed import seed_demo as do_seed
    from app.tables.migrate import migrate as do_migrate

    async def go() -> Any:
        await do_migrate()
        return await do_seed()

    report = _run(go())
    if not report.staff and not report.products:
        click.echo("demo data: database already has staff and a catalog, nothing added")
    else:
        click.echo(
            f"demo data: {report.stores} stores, {report.staff} staff, {report.members} members, "
            f"{report.allergies} allergies, {report.products} products, {report.batches} stock batches"
        )


@seed.command("chain")
@click.option("--members", "member_count", type=click.IntRange(min=0), default=100_000, show_default=True)
@click.option("--stores", "store_count", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="random seed")
def seed_chain(member_count: int, store_count: int, seed_value: int) -> None:
    """A synthetic chain: stores and members (a third with allergies), inserted in bulk."""
    from app.components.seed import seed_chain as do_seed
    from app.tables.migrate import migrate as do_migrate

    async def go() -> Any:
        await do_migrate()
        return await do_seed(members=member_count, stores=store_count, seed=seed_value)

    report = _run(go())
    click.echo(f"chain: {report.stores} stores, {report.members} members, {report.allergies} allergies")


@main.group()
def user() -> None:
    """Staff users."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--store", "store_code", default=None, help="store code (store roles only)")
@click.option("--name", "display_name", default=None, help="display name (defaults to the username)")
@click.option("--with-pin", is_flag=True, help="also read a 4–6 digit override PIN (the line after the password)")
def user_add(username: str, role: str, store_code: str | None, display_name: str | None, with_pin: bool) -> None:
    """Add a staff user; the password (and with --with-pin the PIN) is read from standard input."""
    from app.components.seed import add_staff

    if role in STORE_ROLES and not store_code:
        _fail(f"role {role} belongs to a store: give --store CODE")
    if role in HQ_ROLES and store_code:
        _fail(f"role {role} is an HQ role and has no store: drop --store")
    password = (
        sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty()
        else click.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    if len(password) < 8:
        _fail("the password must have at least 8 characters")
    pin = None
    if with_pin:
        pin = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else click.prompt("PIN", hide_input=True, confirmation_prompt=True)
        )
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
            _fail("the PIN must be 4 to 6 digits")

    async def save() -> bool:
        from app.components.auth import end_all_sessions, staff_exists

        existed = await staff_exists(username)
        staff_id = await add_staff(username, display_name or username, role, store_code, password, pin)
        if existed and os.environ.get("REDIS_URL"):
            await end_all_sessions(staff_id)  # a new password or role must not ride on an old login
            return True
        return not existed

    try:
        sessions_ended = _run(save())
    except LookupError as exc:
        _fail(str(exc))
    click.echo(f"user {username} ({role}{', ' + store_code if store_code else ''}) saved")
    if not sessions_ended:
        click.echo("  their open sessions end at the idle timeout (no REDIS_URL given to end them now)")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("add")
@click.argument("username")
@click.option("--label", default="", help="what the token is for")
def token_add(username: str, label: str) -> None:
    """Create an API token for USERNAME and print it once."""
    from app.components.auth import issue_api_token

    value = _run(issue_api_token(username, label))
    if value is None:
        _fail(f"no active user {username}")
    click.echo(value)


@main.command("rotate-keys")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1000, show_default=True, help="rows per chunk")
def rotate_keys(chunk_size: int) -> None:
    """New data and index keys: re-encrypt phone/ID/address, recompute blind indexes (stop web and worker first).

    Resumable: run it again after an interruption. The previous keys are kept as data_key.old / index_key.old.
    """
    from app.components.keys import KeyRotationError
    from app.components.keys import rotate_keys as do_rotate

    try:
        report = _run(do_rotate(chunk_size=chunk_size))
    except KeyRotationError as exc:
        _fail(str(exc))
    resumed = " (resumed)" if report.resumed else ""
    click.echo(f"keys rotated{resumed}: {report.rows} rows re-encrypted in {report.chunks} chunks")
    click.echo("  previous keys kept as data_key.old and index_key.old; restart web and worker processes")


def _child_env(redis_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@main.command()
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "1")), show_default="1")
@click.option("--no-worker", is_flag=True, help="do not start the SAQ worker")
def run(workers: int, no_worker: bool) -> None:
    """Everything: migrate, seed demo data on first start, Redis (embedded unless REDIS_URL), web and worker."""
    from app.components.seed import DEMO_PASSWORD, DEMO_PIN, DEMO_STAFF
    from app.components.seed import seed_demo as do_seed
    from app.redis import start_embedded_redis
    from app.settings import get_settings
    from app.tables.migrate import migrate as do_migrate

    settings = get_settings()

    async def prepare() -> Any:
        await do_migrate()
        return await do_seed()

    report = _run(prepare())
    procs: list[subprocess.Popen] = []
    redis_url = settings.redis_url
    if not redis_url:
        proc, redis_url = start_embedded_redis(settings.data_dir)
        procs.append(proc)
    env = _child_env(redis_url)
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.asgi:app",
                "--host",
                settings.host,
                "--port",
                str(settings.port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
        )
    )
    if not no_worker:
        procs.append(subprocess.Popen([sys.executable, "-m", "app.tasks.run_worker"], env=env))
    click.echo(f"Yaoshi is running at http://{settings.host}:{settings.port}/")
    click.echo(
        f"  data: {settings.data_dir}  database: {'SQLite' if settings.is_sqlite else 'PostgreSQL'}"
        f"  redis: {'embedded' if not settings.redis_url else settings.redis_url}"
    )
    if report.staff:
        click.echo("  demo data loaded")
    click.echo(f"  demo logins (password {DEMO_PASSWORD}): " + ", ".join(f"{u} ({r})" for u, _, r, _ in DEMO_STAFF))
    click.echo(f"  override PIN of the demo pharmacist and store managers: {DEMO_PIN}")
    _supervise(procs)


def _supervise(procs: list[subprocess.Popen]) -> None:
    """Wait until a child exits or we are told to stop; then stop the rest, Redis last."""
    stop = False

    def handler(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        while not stop and all(p.poll() is None for p in procs):
            time.sleep(0.2)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    codes = [p.returncode for p in procs]
    if not stop and any(codes):
        _fail(f"a process exited unexpectedly (exit codes {codes})")


@main.command()
def worker() -> None:
    """Only the SAQ worker (needs REDIS_URL)."""
    from app.tasks.run_worker import main as worker_main

    worker_main()


@main.command()
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "1")))
def web(workers: int) -> None:
    """Only the web server (needs REDIS_URL)."""
    from app.settings import get_settings

    settings = get_settings()
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.asgi:app",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
    )


if __name__ == "__main__":
    main()
