"""Profile one route in-process (no uvicorn, no load generator): CPU per request, cProfile, or callgrind counts.

For the before/after of one change on a busy machine, where `make bench` figures move with other people's work:

    .venv/bin/python bench/profile_route.py                       # CPU ms per request: noop, session, lookup, sale
    .venv/bin/python bench/profile_route.py --profile lookup      # cProfile of the lookup, by internal time
    .venv/bin/python bench/profile_route.py --callgrind lookup    # instructions per lookup (valgrind, deterministic)
    .venv/bin/python bench/profile_route.py --profile sale        # cProfile of POST /api/v1/sales (3 lines)

The scratch data directory (`--data`, default under /tmp) keeps its seeded chain between runs, so repeated runs
compare like with like; the first run seeds `--members` members with `yaoshi seed chain`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
Request = tuple[dict, bytes]
ROUTES = ["noop", "session", "lookup", "sale"]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "yaoshi-profile"))
    parser.add_argument("--only", choices=ROUTES, help="time only this route (no profiler)")
    parser.add_argument("--profile", choices=ROUTES, help="cProfile this route")
    parser.add_argument("--callgrind", choices=ROUTES, help="instructions per request")
    parser.add_argument("--top", type=int, default=40, help="rows of the cProfile listing")
    return parser.parse_args()


def _scope(method: str, path: str, headers: dict[str, str]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: Callable, scope: dict, body: bytes) -> int:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {}

    status = 0

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not 200 <= status < 300:
            print(f"         {scope['method']} {scope['path']} answered {status}: {message.get('body', b'')[:300]!r}")

    await app(scope, receive, send)
    return status


async def _run(app: Callable, make: Callable[[], Request], total: int, concurrency: int) -> int:
    """Send `total` requests, `concurrency` at a time; return how many were not 2xx."""
    left, bad = total, 0

    async def worker() -> None:
        nonlocal left, bad
        while left > 0:
            left -= 1
            request = make()
            started = time.perf_counter()
            if not 200 <= await _call(app, *request) < 300:
                bad += 1
            latencies.append(time.perf_counter() - started)

    latencies: list[float] = []
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if latencies and total >= 1000:
        latencies.sort()
        p50, p95 = (latencies[int(len(latencies) * q)] * 1000 for q in (0.5, 0.95))
        print(f"         latency p50 {p50:.2f} ms  p95 {p95:.2f} ms  max {latencies[-1] * 1000:.1f} ms")
    return bad


async def _main(args: argparse.Namespace) -> None:
    import httpx

    from app.components.seed import seed_demo
    from app.tables.migrate import migrate
    from app.web import create_app

    await migrate()
    await seed_demo()
    app = create_app()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://profile") as client:
        page = (await client.get("/login")).text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"_csrf_token": token, "username": "pharmacist", "password": "yaoshi123"}
        await client.post("/login", data=form)
        await client.post("/counter/device", data={"_csrf_token": token, "name": "profile"})  # name the tablet
        page = (await client.get("/counter")).text
        htmx_token = re.search(r'"x-csrftoken":\s*"([^"]+)"', page).group(1)  # type: ignore[union-attr]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    from app.db import fetch

    codes = [r["member_no"] for r in await fetch("SELECT member_no FROM member ORDER BY random() LIMIT 2000")]
    csrf_cookie = "; ".join(p for p in cookie.split("; ") if p.startswith("ys_csrf="))
    rng = random.Random(1)
    lookup_headers = {
        "host": "profile",
        "cookie": cookie,
        "hx-request": "true",
        "x-csrftoken": htmx_token,
        "content-type": "application/x-www-form-urlencoded",
    }

    def lookup() -> Request:
        body = f"code={quote(rng.choice(codes))}".encode()
        return _scope("POST", "/counter/lookup", {**lookup_headers, "content-length": str(len(body))}), body

    sale = await _sale_maker(rng)
    routes: dict[str, Callable[[], Request]] = {
        "noop": lambda: (_scope("GET", "/noop", {"host": "profile", "cookie": csrf_cookie}), b""),
        "session": lambda: (_scope("GET", "/noop", {"host": "profile", "cookie": cookie}), b""),
        "lookup": lookup,
        "sale": sale,
    }
    only = args.callgrind or args.profile or args.only
    chosen = {only: routes[only]} if only else routes
    for make in chosen.values():
        await _run(
            app, make, int(os.environ.get("YAOSHI_PROFILE_WARM", "200")), args.concurrency
        )  # warm: templates compiled, connections open, caches full
    if args.callgrind:
        # Run twice under valgrind (0 and N requests); the difference divided by N is the cost of one request.
        await _run(app, chosen[args.callgrind], int(os.environ.get("YAOSHI_PROFILE_N", "0")), args.concurrency)
        return
    for name, make in chosen.items():
        profiler = cProfile.Profile() if args.profile == name else None
        cpu, wall, loop_cpu = time.process_time(), time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        bad = await _run(app, make, args.requests, args.concurrency)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        loop_cpu = time.thread_time() - loop_cpu
        print(
            f"{name:<8} CPU {cpu * 1000 / args.requests:7.3f} ms/req  wall {wall * 1000 / args.requests:7.3f} ms/req"
            f"  (event loop thread {loop_cpu * 1000 / args.requests:.3f})  non-200 {bad}"
        )
        if profiler:
            if os.environ.get("YAOSHI_PROFILE_OUT"):
                profiler.dump_stats(os.environ["YAOSHI_PROFILE_OUT"])
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


async def _sale_maker(rng: random.Random) -> Callable[[], Request]:
    """POST /api/v1/sales as bench/run.py sends it: a member without allergies, 3 OTC products, cash; a new key each.

    Stock for the products is received once into the demo pharmacist's store (idempotent by its key).
    """
    import json
    import uuid
    from datetime import UTC, datetime, timedelta

    from app.components import stock
    from app.components.auth import new_api_token
    from app.components.core.actor import StaffUser
    from app.components.core.clock import store_today
    from app.db import fetch

    row = (
        await fetch(
            "SELECT s.id, s.username, s.display_name, s.role, s.store, st.code FROM staff s"
            " JOIN store st ON st.id = s.store WHERE s.username = 'pharmacist'"
        )
    )[0]
    actor = StaffUser(row["id"], row["username"], row["display_name"], row["role"], row["store"], row["code"], None)
    products = await fetch(
        "SELECT sku, price FROM product WHERE active = {} AND rx_class = 'OTC' AND allergen_classes = ''"
        " AND cold_chain = {} AND dtp = {} AND price > 0 ORDER BY sku LIMIT 30",
        True,
        False,
        False,
    )
    expiry = store_today() + timedelta(days=400)
    for p in products:
        receipt = stock.Receipt(
            store_code=row["code"],
            product=p["sku"],
            batch_no="BENCH",
            expiry=expiry,
            qty=1_000_000,
            key="bench:" + p["sku"],
        )
        await stock.receive(receipt, actor)
    token, digest = new_api_token()
    await fetch(
        "INSERT INTO api_token (staff, token_hash, label, created_at, revoked) VALUES ({}, {}, {}, {}, {})",
        row["id"],
        digest,
        "profile",
        datetime.now(UTC),
        False,
    )
    members = [
        r["member_no"]
        for r in await fetch(
            "SELECT member_no FROM member WHERE merged_into IS NULL AND allergy_status <> 'has_allergies'"
            " ORDER BY random() LIMIT 2000"
        )
    ]
    headers = {"host": "profile", "authorization": f"Bearer {token}", "content-type": "application/json"}

    def sale() -> Request:
        picked = rng.sample(products, 3)
        body = {
            "idempotency_key": uuid.uuid4().hex,
            "store": row["code"],
            "member_no": rng.choice(members),
            "lines": [{"code": p["sku"], "qty": 1} for p in picked],
            "tenders": [{"kind": "cash", "amount": sum(p["price"] for p in picked)}],
        }
        raw = json.dumps(body).encode()
        return _scope("POST", "/api/v1/sales", {**headers, "content-length": str(len(raw))}), raw

    return sale


def _callgrind(args: argparse.Namespace) -> None:
    # Both runs at once, each on its own copy of the seeded data (so neither sees the other's writes).
    runs = []
    for n in (0, args.requests):
        data = Path(f"{args.data}.cg{n}")
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(args.data, data)
        out = data / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--data",
            str(data),
            "--callgrind",
            args.callgrind,
        ]
        env = {**os.environ, "YAOSHI_PROFILE_N": str(n), "YAOSHI_PROFILE_WARM": "40"}
        runs.append((subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    counts = []
    for proc, out in runs:
        if proc.wait() != 0:
            raise SystemExit(f"valgrind run failed: {proc.args}")
        summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
        counts.append(int(summary.split()[1]))
    per = (counts[1] - counts[0]) / args.requests
    print(f"{args.callgrind}: {per:,.0f} instructions per request ({args.requests} requests)")


def main() -> None:
    args = _args()
    data = Path(args.data)
    os.environ["YAOSHI_DATA_DIR"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("YAOSHI_DEBUG", None)
    if args.callgrind and "YAOSHI_PROFILE_N" not in os.environ:
        if args.requests == 3000:
            args.requests = 100  # valgrind runs Python ~50 times slower
        _seed(data, args.members)
        _callgrind(args)
        return
    _seed(data, args.members)
    sys.path.insert(0, str(ROOT))
    from app.redis import start_embedded_redis

    redis, os.environ["REDIS_URL"] = start_embedded_redis(data)
    try:
        asyncio.run(_main(args))
    finally:
        redis.terminate()


def _seed(data: Path, members: int) -> None:
    if (data / "yaoshi.sqlite3").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "app.cli", "seed", "chain", "--members", str(members), "--stores", "50"]
    subprocess.run(command, cwd=ROOT, env=os.environ, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
