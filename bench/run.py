"""`make bench`: seed a scratch chain, start `yaoshi run`, time the counter lookup (and a sale) against the no-op.

Everything happens on 127.0.0.1 in a scratch data directory (and, for PostgreSQL, a scratch database that is
dropped afterwards); the run is bounded by fixed request counts. See bench/README.md for how to read the table.

Environment: BENCH_MEMBERS (100000), BENCH_REQUESTS per route (6000), BENCH_CONCURRENCY (16), BENCH_CLIENTS
(client processes, 2), BENCH_WARMUP per route (400), BENCH_PHONE_SHARE (0.2), BENCH_SALE_LINES (past sale lines
seeded before the sale row, 1000000; 0 seeds none), BENCH_SALES (0 leaves the sale row out), BENCH_WEB2 (0 leaves
out the rows measured again with WEB_CONCURRENCY=2), BENCH_DECILES (1 prints latency percentiles per route and
client), DATABASE_URL, REDIS_URL.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
TARGET_P95_MS = 15.0
TARGET_RATIO = 0.35
TARGET_SALE_P95_MS = 40.0
SALE_LINES = 3
# Stands for the per-connection identity header(s) in a prepared request: each connection is one member of staff
# (its own session cookie and CSRF token, or its own API token), as 16 counters of a chain are 16 people.
IDENT = b"@@IDENT@@"
BENCH_PASSWORD = "bench-pass-123"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Config:
    """What one run measures."""

    members: int = field(default_factory=lambda: _env_int("BENCH_MEMBERS", 100_000))
    stores: int = 50
    requests: int = field(default_factory=lambda: _env_int("BENCH_REQUESTS", 6000))
    concurrency: int = field(default_factory=lambda: _env_int("BENCH_CONCURRENCY", 16))
    clients: int = field(default_factory=lambda: _env_int("BENCH_CLIENTS", 2))
    warmup: int = field(default_factory=lambda: _env_int("BENCH_WARMUP", 400))
    phone_share: float = field(default_factory=lambda: float(os.environ.get("BENCH_PHONE_SHARE") or 0.2))
    codes: int = 2000
    # The sale row needs the sales API (issue 4); without it the bench measures the lookup only.
    sales: bool = field(
        default_factory=lambda: (
            os.environ.get("BENCH_SALES", "1") != "0" and (ROOT / "app" / "routes" / "api" / "sales.py").exists()
        )
    )
    sale_lines: int = field(default_factory=lambda: _env_int("BENCH_SALE_LINES", 1_000_000))
    # The same routes once more with `WEB_CONCURRENCY=2`: two web processes writing to one database.
    web2: bool = field(default_factory=lambda: os.environ.get("BENCH_WEB2", "1") != "0")


# ---------------------------------------------------------------- the load generator (one per client process)


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight; parses just enough of the reply."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).lower()
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        if match:
            total = end + 4 + int(match.group(1))
            if len(self.buf) < total:
                return
        elif b"transfer-encoding: chunked" in head:
            stop = self.buf.find(b"\r\n0\r\n\r\n", end)
            if stop < 0:
                return
            total = stop + 7
        else:
            total = end + 4
        status = int(head[9:12])
        del self.buf[:total]
        if not self.waiter.done():
            self.waiter.set_result(status)

    async def request(self, payload: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter


async def _drive(
    port: int,
    payloads: list[bytes],
    quota: int,
    conns: int,
    start_at: float,
    seed: int,
    once: bool = False,
    idents: list[bytes] | None = None,
) -> dict:
    """Send `quota` requests; payloads are picked at random, or each used once in order when `once`.

    With `idents` (one per connection), connection k sends every payload with IDENT replaced by idents[k].
    """
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    unused = iter(payloads)
    conn_list = []
    for _ in range(conns):
        _, proto = await loop.create_connection(_Conn, HOST, port)
        conn_list.append(proto)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    remaining = quota
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    t0 = time.perf_counter()

    async def worker(conn: _Conn, ident: bytes | None) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            payload = next(unused) if once else payloads[rng.randrange(len(payloads))]
            if ident is not None:
                payload = payload.replace(IDENT, ident, 1)
            started = time.perf_counter()
            try:
                status = await conn.request(payload)
            except ConnectionError:
                errors += 1
                _, conn = await loop.create_connection(_Conn, HOST, port)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if conn.lost:
                _, conn = await loop.create_connection(_Conn, HOST, port)

    await asyncio.gather(*(worker(c, idents[k] if idents else None) for k, c in enumerate(conn_list)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    for conn in conn_list:
        if conn.transport is not None:
            conn.transport.close()
    return {
        "latencies": latencies,
        "statuses": dict(statuses),
        "errors": errors,
        "wall_start": start_at,
        "elapsed": elapsed,
        "cpu": cpu,
    }


def _client_process(args: tuple) -> dict:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass
    return asyncio.run(_drive(*args))


# ---------------------------------------------------------------- the server and its scratch data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _yaoshi() -> list[str]:
    script = Path(sys.executable).with_name("yaoshi")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Scratch:
    """A temporary data directory, and a scratch PostgreSQL database when DATABASE_URL names a server."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="yaoshi-bench-"))
        self.env = dict(os.environ)
        self.env.pop("YAOSHI_DEBUG", None)
        self.env["YAOSHI_DATA_DIR"] = str(self.dir)
        self.env["HOST"] = HOST
        self.env["PORT"] = str(_free_port())
        self.admin_url: str | None = None
        self.pg_db: str | None = None
        given = os.environ.get("DATABASE_URL", "")
        if given.startswith(("postgres://", "postgresql://")):
            url = urlparse(given)
            base = url.path.lstrip("/") or "postgres"
            self.pg_db = f"{base}_bench_{os.getpid()}"
            self.admin_url = given
            self.env["DATABASE_URL"] = urlunparse(url._replace(path="/" + quote(self.pg_db)))
            asyncio.run(_pg_admin(given, f'CREATE DATABASE "{self.pg_db}"'))
            self.tier = "postgresql"
        else:
            # Never the caller's SQLite file: the default path inside the scratch directory.
            self.env.pop("DATABASE_URL", None)
            self.tier = "sqlite"
        self.redis = self.env.get("REDIS_URL") or "embedded"
        self.port = int(self.env["PORT"])

    def cleanup(self) -> None:
        if self.pg_db and self.admin_url:
            try:
                asyncio.run(_pg_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)'))
            except Exception as exc:
                print(f"bench: could not drop scratch database {self.pg_db}: {exc}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


def _proc_tree_cpu(root_pid: int) -> dict[str, float]:
    """CPU seconds used so far by `root_pid` and its descendants, by kind: web (uvicorn), redis, worker, other."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(fields[1])
        kind = next((k for k, marker in _KINDS if marker in cmdline), "other")
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (kind, (int(fields[11]) + int(fields[12])) / tick)
    totals: dict[str, float] = {}
    todo = [(root_pid, "other")]
    while todo:
        pid, parent_kind = todo.pop()
        kind = parent_kind
        if pid in stats:
            own, cpu = stats[pid]
            kind = own if own != "other" else parent_kind  # uvicorn's worker processes are "web" too
            totals[kind] = totals.get(kind, 0.0) + cpu
        todo.extend((child, kind) for child in children.get(pid, []))
    return totals


_KINDS = [("web", "uvicorn"), ("redis", "redis-server"), ("worker", "run_worker")]


class Server:
    """`yaoshi run` exactly as `make run` starts it, in its own process group."""

    def __init__(self, scratch: Scratch, web_processes: int = 1) -> None:
        self.scratch = scratch
        self.log = open(scratch.dir / f"server-{web_processes}.log", "w+b")
        self.proc = subprocess.Popen(
            [*_yaoshi(), "run"],
            cwd=ROOT,
            env={**scratch.env, "WEB_CONCURRENCY": str(web_processes)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"yaoshi run exited ({self.proc.returncode}):\n{self.output()}")
            try:
                status, _, _ = _http(self.scratch.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n{self.output()}")

    def cpu(self) -> dict[str, float]:
        return _proc_tree_cpu(self.proc.pid)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # anything the supervisor left behind in its group
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.log.close()


def _http(
    port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, list[str]], str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        got: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            got.setdefault(name.lower(), []).append(value)
        return response.status, got, response.read().decode(errors="replace")
    finally:
        conn.close()


def _cookies(headers: dict[str, list[str]]) -> dict[str, str]:
    jar = {}
    for line in headers.get("set-cookie", []):
        name, _, rest = line.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def login(port: int, username: str = "pharmacist", password: str = "yaoshi123") -> tuple[str, str]:
    """Log a pharmacist in through the real form; return (Cookie header, CSRF token for htmx posts)."""
    status, headers, page = _http(port, "GET", "/login")
    jar = _cookies(headers)
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert status == 200 and match, f"login page: {status}"
    form = f"_csrf_token={quote(match.group(1))}&username={quote(username)}&password={quote(password)}"
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, headers, body = _http(
        port,
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 303, f"login failed with {status}: {body[:300]}"
    jar.update(_cookies(headers))
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    # Each counter is a tablet of its own, named on its first visit (the cart belongs to the tablet and the person).
    status, headers, body = _http(
        port,
        "POST",
        "/counter/device",
        body=f"_csrf_token={quote(match.group(1))}&name={quote('bench ' + username)}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 303, f"naming the tablet failed with {status}: {body[:300]}"
    jar.update(_cookies(headers))
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, _, page = _http(port, "GET", "/counter", headers={"Cookie": cookie})
    match = re.search(r'"x-csrftoken":\s*"([^"]+)"', page)
    assert status == 200 and match, f"counter page: {status}"
    return cookie, match.group(1)


# ---------------------------------------------------------------- test data: codes that exist


async def _pg_rows(url: str, sql: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def pick_codes(scratch: Scratch, cfg: Config) -> list[str]:
    """Random existing member numbers, and a share of their phone numbers (decrypted with the scratch key)."""
    os.environ["YAOSHI_DATA_DIR"] = str(scratch.dir)  # this process reads the scratch keys
    from app.components.core.crypto import decrypt

    sql = f"SELECT member_no, phone_enc FROM member ORDER BY random() LIMIT {cfg.codes}"
    if scratch.tier == "postgresql":
        rows = asyncio.run(_pg_rows(scratch.env["DATABASE_URL"], sql))
    else:
        import sqlite3

        db = sqlite3.connect(f"file:{scratch.dir / 'yaoshi.sqlite3'}?mode=ro", uri=True)
        rows = db.execute(sql).fetchall()
        db.close()
    rng = random.Random(5)
    codes = []
    for member_no, phone_enc in rows:
        if phone_enc and rng.random() < cfg.phone_share:
            codes.append(decrypt(phone_enc, "phone") or member_no)
        else:
            codes.append(member_no)
    return codes


# ---------------------------------------------------------------- the sale row: catalog, stock, sales history

# Run in the scratch environment before the server starts (so `yaoshi run` finds the demo staff and stores in
# place): demo catalog and stock, a large delivery of the products the bench sells into the pharmacist's store
# (through the stock ledger, like a real receipt), and `lines` past sale lines. Prints one JSON line.
_SALES_SEED = """
import asyncio, json, sys
from datetime import timedelta


async def main(lines: int, store: str) -> None:
    from app.components import catalog, stock
    from app.components.core.actor import StaffUser
    from app.components.core.clock import store_today
    from app.components.seed import seed_demo
    from app.components.seed import seed_sales_history
    from app.db import fetch
    from app.tables.migrate import migrate

    await migrate()
    await seed_demo()
    await catalog.seed_demo_catalog()
    await stock.seed_demo_stock()
    row = (await fetch(
        "SELECT s.id, s.username, s.display_name, s.role, s.store, st.code FROM staff s"
        " JOIN store st ON st.id = s.store WHERE s.username = 'pharmacist'"
    ))[0]
    actor = StaffUser(row["id"], row["username"], row["display_name"], row["role"], row["store"], row["code"], None,
                      client_addr="127.0.0.1", channel="bench")
    # OTC products with no allergen class, so no allergy alert or prescription can block the bench's sales.
    products = await fetch(
        "SELECT sku, price FROM product WHERE active = {} AND rx_class = 'OTC' AND allergen_classes = ''"
        " AND cold_chain = {} AND dtp = {} AND price > 0 ORDER BY sku LIMIT 30", True, False, False
    )
    expiry = store_today() + timedelta(days=400)
    for p in products:
        await stock.receive(stock.Receipt(store_code=store, product=p["sku"], batch_no="BENCH", expiry=expiry,
                                          qty=1_000_000, key="bench:" + p["sku"]), actor)
    done = await seed_sales_history(lines)
    members = await fetch(
        "SELECT member_no FROM member WHERE merged_into IS NULL AND allergy_status <> 'has_allergies'"
        " ORDER BY random() LIMIT 2000"
    )
    print(json.dumps({"lines": done, "products": [[p["sku"], p["price"]] for p in products],
                      "members": [m["member_no"] for m in members]}))


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""
SALE_STORE = "SH001"  # the demo pharmacist's store

# The bench's counter staff: `count` pharmacists of the demo pharmacist's store (created or reset), each with an
# API token. Run in the scratch environment before the server starts; prints one JSON line.
_STAFF_SEED = """
import asyncio, json, sys
from datetime import UTC, datetime


async def main(count: int, password: str) -> None:
    from app.components.auth import new_api_token
    from app.components.seed import add_staff, seed_demo
    from app.db import fetch
    from app.tables.migrate import migrate

    await migrate()
    await seed_demo()  # the demo stores and staff, when the sale row's seeding (BENCH_SALES=0) did not add them
    store = (await fetch(
        "SELECT st.code FROM staff s JOIN store st ON st.id = s.store WHERE s.username = 'pharmacist'"
    ))[0]["code"]
    users, tokens = [], []
    for i in range(1, count + 1):
        username = f"bench{i:02d}"
        staff_id = await add_staff(username, f"Bench {i:02d}", "pharmacist", store, password, pin="2468")
        value, digest = new_api_token()
        await fetch(
            "INSERT INTO api_token (staff, token_hash, label, created_at, revoked) VALUES ({}, {}, {}, {}, {})",
            staff_id, digest, "bench", datetime.now(UTC), False,
        )
        users.append(username)
        tokens.append(value)
    print(json.dumps({"store": store, "users": users, "tokens": tokens}))


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def seed_staff(scratch: Scratch, count: int) -> dict:
    """`count` pharmacists of the bench store, each with an API token: {"store", "users", "tokens"}."""
    done = subprocess.run(
        [sys.executable, "-c", _STAFF_SEED, str(count), BENCH_PASSWORD],
        cwd=ROOT,
        env=scratch.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def seed_sales(scratch: Scratch, cfg: Config) -> dict:
    """Catalog, stock and sales history for the sale row; returns products (sku, price) and member numbers."""
    done = subprocess.run(
        [sys.executable, "-c", _SALES_SEED, str(cfg.sale_lines), SALE_STORE],
        cwd=ROOT,
        env=scratch.env,
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(found["products"]) >= SALE_LINES and found["members"], f"nothing to sell: {done.stdout[-500:]}"
    return found


def sale_payloads(port: int, stock: dict, count: int, run: str = "") -> list[bytes]:
    """`count` sale requests, each with its own idempotency key: a member, 3 different products, paid in cash.

    The bearer token is the IDENT placeholder: each connection sends them with its own pharmacist's token. `run`
    tells the keys of one phase from another's.
    """
    rng = random.Random(11)
    run = f"{os.getpid()}-{int(time.time())}{run.replace(' ', '').replace(',', '-')}"
    headers = {"Content-Type": "application/json"}
    out = []
    for i in range(count):
        picked = rng.sample(stock["products"], SALE_LINES)
        body = {
            "idempotency_key": f"bench-{run}-{i}",
            "store": SALE_STORE,
            "member_no": rng.choice(stock["members"]),
            "lines": [{"code": sku, "qty": 1} for sku, _ in picked],
            # List prices cover any discount; the rest is change.
            "tenders": [{"kind": "cash", "amount": sum(price for _, price in picked)}],
        }
        out.append(_request("POST", "/api/v1/sales", port, headers, json.dumps(body), ident=True))
    return out


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    """One route's figures."""

    name: str
    requests: int
    concurrency: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float
    non_2xx: int
    statuses: dict[str, int]
    connection_errors: int
    web_cpu_ms_per_req: float
    server_cpu_ms_per_req: dict[str, float]
    client_cpu_ms_per_req: float
    elapsed_s: float


def _pct(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, round(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1] * 1000


def measure(
    name: str,
    server: Server,
    payloads: list[bytes],
    total: int,
    cfg: Config,
    pool: mp.pool.Pool,
    once: bool = False,
    idents: list[bytes] | None = None,
) -> Result:
    """Send `total` requests from `cfg.clients` processes over `cfg.concurrency` connections; gather the figures.

    With `once`, every payload is sent exactly once (each carries its own idempotency key): `payloads` must hold at
    least `total` and each client process gets its own slice. `idents` (one per connection, `cfg.concurrency` of
    them) replace IDENT in every payload a connection sends: who it is.
    """
    procs = min(cfg.clients, cfg.concurrency)
    start_at = time.time() + 0.5
    jobs = []
    offset = conn_offset = 0
    for i in range(procs):
        conns = cfg.concurrency // procs + (1 if i < cfg.concurrency % procs else 0)
        quota = total // procs + (1 if i < total % procs else 0)
        mine = payloads[offset : offset + quota] if once else payloads
        offset += quota
        who = [idents[(conn_offset + k) % len(idents)] for k in range(conns)] if idents else None
        conn_offset += conns
        jobs.append((server.scratch.port, mine, quota, conns, start_at, 1000 + i, once, who))
    cpu0 = server.cpu()
    parts = pool.map(_client_process, jobs)
    cpu1 = server.cpu()
    latencies = sorted(x for p in parts for x in p["latencies"])
    if os.environ.get("BENCH_DECILES"):
        print(f"{name}: p5 … p99 ms", " ".join(f"{_pct(latencies, q):.1f}" for q in (5, 10, 25, 50, 75, 90, 95, 99)))
        for k, p in enumerate(parts):
            lat = sorted(p["latencies"])
            print("  client", k, " ".join(f"{_pct(lat, q):.1f}" for q in (10, 50, 90, 95)))
    statuses: Counter[int] = Counter()
    for p in parts:
        statuses.update({int(k): v for k, v in p["statuses"].items()})
    elapsed = max(p["elapsed"] for p in parts)
    done = len(latencies)
    return Result(
        name=name,
        requests=done,
        concurrency=cfg.concurrency,
        p50_ms=_pct(latencies, 50),
        p95_ms=_pct(latencies, 95),
        p99_ms=_pct(latencies, 99),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        rps=done / elapsed if elapsed else 0.0,
        non_2xx=sum(v for k, v in statuses.items() if not 200 <= k < 300),
        statuses={str(k): v for k, v in sorted(statuses.items())},
        connection_errors=sum(p["errors"] for p in parts),
        web_cpu_ms_per_req=(cpu1.get("web", 0.0) - cpu0.get("web", 0.0)) * 1000 / max(1, done),
        server_cpu_ms_per_req={k: round((v - cpu0.get(k, 0.0)) * 1000 / max(1, done), 4) for k, v in cpu1.items()},
        client_cpu_ms_per_req=sum(p["cpu"] for p in parts) * 1000 / max(1, done),
        elapsed_s=elapsed,
    )


def _request(method: str, path: str, port: int, headers: dict[str, str], body: str = "", ident: bool = False) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if ident:
        lines.append(IDENT.decode())
    raw = body.encode()
    if method == "POST":
        lines.append(f"Content-Length: {len(raw)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw


def report(cfg: Config, scratch: Scratch, seed_s: float, one: Phase, load: list[float], two: Phase | None) -> dict:
    """Print the table and return the JSON document."""
    noop, session, lookup, sale = one.noop, one.session, one.lookup, one.sale
    ratio = lookup.rps / noop.rps if noop.rps else 0.0
    p95_ok = lookup.p95_ms <= TARGET_P95_MS
    ratio_ok = ratio >= TARGET_RATIO
    ok_200 = lookup.non_2xx == 0 and lookup.connection_errors == 0 and noop.non_2xx == 0
    sale_ok = sale is None or (sale.p95_ms <= TARGET_SALE_P95_MS and sale.non_2xx == 0 and not sale.connection_errors)
    # Two web processes: no latency target (information), but every request must still succeed.
    two_ok = two is None or all(
        r.non_2xx == 0 and not r.connection_errors for r in (two.noop, two.lookup, two.sale) if r is not None
    )
    passed = p95_ok and ratio_ok and ok_200 and sale_ok and two_ok
    title = (
        f"yaoshi bench: {scratch.tier} + redis {'embedded' if scratch.redis == 'embedded' else 'external'}, "
        f"{cfg.members:,} members, {cfg.concurrency} connections, {cfg.requests:,} requests per route, "
        f"{os.cpu_count()} CPUs"
    )
    width = 32
    header = (
        f"{'route':<{width}}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'req/s':>9}{'ratio':>8}"
        f"{'non-2xx':>9}{'web CPU ms/req':>16}  verdict"
    )

    def of(r: Result, floor: Result) -> str:
        return f"{r.rps / floor.rps if floor.rps else 0:.2f}"

    rows = [
        (noop, "1.00", "floor"),
        (session, of(session, noop), "info: the no-op with a session (identity)"),
        (
            lookup,
            f"{ratio:.2f}",
            f"p95 {'PASS' if p95_ok else 'FAIL'} (≤{TARGET_P95_MS:.0f}), "
            f"ratio {'PASS' if ratio_ok else 'FAIL'} (≥{TARGET_RATIO:.2f})"
            + ("" if ok_200 else ", FAIL: non-2xx responses"),
        ),
    ]
    if sale is not None:
        rows.append(
            (
                sale,
                of(sale, noop),
                f"p95 {'PASS' if sale.p95_ms <= TARGET_SALE_P95_MS else 'FAIL'} (≤{TARGET_SALE_P95_MS:.0f})"
                + ("" if sale.non_2xx == 0 else f", FAIL: non-2xx {sale.statuses}"),
            )
        )
    if two is not None:
        rows.append((two.noop, of(two.noop, noop), "info: floor with WEB_CONCURRENCY=2"))
        for r in (two.lookup, two.sale):
            if r is not None:
                verdict = "info" if r.non_2xx == 0 and not r.connection_errors else f"FAIL: non-2xx {r.statuses}"
                rows.append((r, of(r, two.noop), verdict + " (ratio to the 2-web floor)"))
    print()
    print(title)
    print(header)
    print("-" * len(header))
    for r, ratio_text, verdict in rows:
        print(
            f"{r.name:<{width}}{r.p50_ms:>8.2f}{r.p95_ms:>8.2f}{r.p99_ms:>8.2f}{r.rps:>9.0f}{ratio_text:>8}"
            f"{r.non_2xx:>9}{r.web_cpu_ms_per_req:>16.2f}  {verdict}"
        )
    print("-" * len(header))
    print(
        f"overall: {'PASS' if passed else 'FAIL'}   (seeding took {seed_s:.1f} s; 1-min load average before/after "
        f"measuring {load[0]:.1f}/{load[1]:.1f} on {os.cpu_count()} CPUs)"
    )
    if max(load) > (os.cpu_count() or 1):
        print("warning: other work was running on this machine; absolute figures are noisy, the ratio less so")
    results = {
        "noop": asdict(noop),
        "noop_with_session": asdict(session),
        "lookup": asdict(lookup),
        **({"sale": asdict(sale)} if sale else {}),
    }
    if two is not None:
        results["web2"] = {
            "noop": asdict(two.noop),
            "noop_with_session": asdict(two.session),
            "lookup": asdict(two.lookup),
            **({"sale": asdict(two.sale)} if two.sale else {}),
        }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "tier": scratch.tier,
        "redis": "embedded" if scratch.redis == "embedded" else "external",
        "config": asdict(cfg),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seed_seconds": round(seed_s, 2),
        "load_average": {"before": load[0], "after": load[1]},
        "targets": {"lookup_p95_ms": TARGET_P95_MS, "lookup_over_noop_rps": TARGET_RATIO},
        "results": results,
        "ratio": round(ratio, 4),
        "sale_lines_seeded": cfg.sale_lines if sale else 0,
        "pass": {
            "p95": p95_ok,
            "ratio": ratio_ok,
            "all_200": ok_200,
            "sale": sale_ok,
            "web2_all_2xx": two_ok,
            "overall": passed,
        },
    }


@dataclass
class Phase:
    """One server's measured routes (sale None without the sale row)."""

    noop: Result
    session: Result
    lookup: Result
    sale: Result | None


def run_phase(
    server: Server, scratch: Scratch, cfg: Config, staff: dict, stock: dict | None, codes: list[str], label: str = ""
) -> Phase:
    """Log the pharmacists in on `server`, check one lookup and one sale, warm up, then measure every route."""
    logins = [login(scratch.port, user, BENCH_PASSWORD) for user in staff["users"]]
    lookup_headers = {"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"}
    lookup_idents = [f"Cookie: {cookie}\r\nx-csrftoken: {token}".encode() for cookie, token in logins]
    cookie, token = logins[0]
    check = _http(
        scratch.port,
        "POST",
        "/counter/lookup",
        body=f"code={codes[0]}",
        headers={**lookup_headers, "Cookie": cookie, "x-csrftoken": token},
    )
    assert check[0] == 200, f"a lookup of {codes[0]} answered {check[0]}: {check[2][:300]}"
    lookups = [
        _request("POST", "/counter/lookup", scratch.port, lookup_headers, f"code={quote(c)}", ident=True) for c in codes
    ]
    # The no-op carries the CSRF cookie a browser would have, but no session: the framework's own floor.
    csrf_cookie = "; ".join(p for p in cookie.split("; ") if p.startswith("ys_csrf="))
    noops = [_request("GET", "/noop", scratch.port, {"Cookie": csrf_cookie})]
    # For reading the table only: the same no-op paying for the session look-up every logged-in request makes.
    sessions = [_request("GET", "/noop", scratch.port, {}, ident=True)]
    session_idents = [f"Cookie: {cookie}".encode() for cookie, _ in logins]
    sales = []
    sale_idents = [f"Authorization: Bearer {t}".encode() for t in staff["tokens"]]
    if stock is not None:
        sales = sale_payloads(scratch.port, stock, cfg.warmup + cfg.requests + 1, run=label)
        check = _http(
            scratch.port,
            "POST",
            "/api/v1/sales",
            body=sales[0].split(b"\r\n\r\n", 1)[1].decode(),
            headers={"Authorization": f"Bearer {staff['tokens'][0]}", "Content-Type": "application/json"},
        )
        assert check[0] == 201, f"a sale answered {check[0]}: {check[2][:500]}"
        sales = sales[1:]
    ctx = mp.get_context("fork")
    with ctx.Pool(min(cfg.clients, cfg.concurrency)) as pool:
        print(f"bench: warming up ({cfg.warmup} requests per route){label}")
        measure("warmup", server, noops, cfg.warmup, cfg, pool)
        measure("warmup", server, lookups, cfg.warmup, cfg, pool, idents=lookup_idents)
        if sales:
            measure("warmup", server, sales[: cfg.warmup], cfg.warmup, cfg, pool, once=True, idents=sale_idents)
        print(f"bench: {cfg.requests} requests per route, {cfg.concurrency} connections{label}")
        noop = measure(f"GET /noop{label}", server, noops, cfg.requests, cfg, pool)
        session = measure(
            f"GET /noop + session{label}", server, sessions, cfg.requests, cfg, pool, idents=session_idents
        )
        lookup = measure(f"POST /counter/lookup{label}", server, lookups, cfg.requests, cfg, pool, idents=lookup_idents)
        sale = None
        if sales:
            sale = measure(
                f"POST /api/v1/sales ({SALE_LINES}){label}",
                server,
                sales[cfg.warmup :],
                cfg.requests,
                cfg,
                pool,
                once=True,
                idents=sale_idents,
            )
    return Phase(noop, session, lookup, sale)


def main() -> int:
    cfg = Config()
    scratch = Scratch()
    server: Server | None = None
    try:
        print(
            f"bench: scratch data in {scratch.dir} ({scratch.tier}"
            + (f", database {scratch.pg_db}" if scratch.pg_db else "")
            + f"), port {scratch.port}"
        )
        t = time.perf_counter()
        subprocess.run(
            [*_yaoshi(), "seed", "chain", "--members", str(cfg.members), "--stores", str(cfg.stores)],
            cwd=ROOT,
            env=scratch.env,
            check=True,
        )
        seed_s = time.perf_counter() - t
        print(f"bench: seeded the chain in {seed_s:.1f} s")
        stock = None
        if cfg.sales:
            t = time.perf_counter()
            stock = seed_sales(scratch, cfg)
            print(f"bench: catalog, stock and {stock['lines']:,} past sale lines in {time.perf_counter() - t:.1f} s")
        # One pharmacist per connection (each logs in, each has an API token): every counter has its own cart.
        staff = seed_staff(scratch, cfg.concurrency)
        print(f"bench: {len(staff['users'])} pharmacists of store {staff['store']}, one per connection")
        print("bench: starting yaoshi run")
        server = Server(scratch)
        server.wait_ready()
        codes = pick_codes(scratch, cfg)
        load = [os.getloadavg()[0]]
        one = run_phase(server, scratch, cfg, staff, stock, codes)
        two = None
        if cfg.web2:
            # The same data and routes with two web processes: SQLite's write lock is then shared by processes
            # (each waits for the other's in SQLite's busy handler), not only by one process's requests.
            server.stop()
            print("bench: starting yaoshi run with WEB_CONCURRENCY=2")
            server = Server(scratch, web_processes=2)
            server.wait_ready()
            two = run_phase(server, scratch, cfg, staff, stock, codes, label=", 2 web")
        load.append(os.getloadavg()[0])
        doc = report(cfg, scratch, seed_s, one, load, two)
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{stamp}-{scratch.tier}.json"
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"results: {path.relative_to(ROOT)}")
        return 0 if doc["pass"]["overall"] else 1
    finally:
        if server is not None:
            server.stop()
        scratch.cleanup()


if __name__ == "__main__":
    sys.exit(main())
