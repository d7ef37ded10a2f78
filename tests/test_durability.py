"""Acknowledged writes are committed writes: a disk that fills at COMMIT, a sale that rolls back, and two web
processes plus the worker on one SQLite file, through the real processes and HTTP where it matters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.components import sales, stock
from app.components.seed import DEMO_PASSWORD
from app.db import fetch
from tests.components.sales.sale_data import count, make_products, request, stock_in
from tests.conftest import actor

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
HX = {"HX-Request": "true"}
STORE = "SH001"


# ---------------------------------------------------------------- a sale that rolls back


async def test_a_sale_that_rolls_back_lends_neither_its_number_nor_its_id_to_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sale fails after its row and its stock moves were written (here: right after the stock allocation). On
    SQLite a rolled-back INSERT frees its rowid and the sequence's increment rolls back with it, so the next sale
    got the same id and number: whatever had seen or printed the first (a receipt, a log line) now names another
    sale. Gaps are fine; a number or id given twice is not."""
    await make_products()
    await stock_in("YS90007", 5, "B1")  # what `request()` sells: one unit of it
    real_allocate = stock.allocate_sale_lines
    failed: dict[str, object] = {}

    async def allocate_then_fail(store_id: int, lines: list, sale_no: str, *args: object, **kwargs: object) -> dict:
        await real_allocate(store_id, lines, sale_no, *args, **kwargs)
        failed.update((await fetch("SELECT id, sale_no FROM sale WHERE sale_no = {}", sale_no))[0])
        raise RuntimeError("the till lost its connection half-way through the sale")

    monkeypatch.setattr(stock, "allocate_sale_lines", allocate_then_fail)
    with pytest.raises(RuntimeError, match="half-way"):
        await sales.record_sale(await request(key="fails"), await actor())
    monkeypatch.setattr(stock, "allocate_sale_lines", real_allocate)
    assert failed and await count("sale") == 0 and await count("stock_move WHERE kind = 'sale'") == 0

    nxt = await sales.record_sale(await request(key="next"), await actor())
    again = await sales.record_sale(await request(key="fails"), await actor())  # the failed one, tried again
    assert nxt.created and again.created
    assert failed["sale_no"] not in (nxt.sale.sale_no, again.sale.sale_no)
    assert failed["id"] not in (nxt.sale.id, again.sale.id)
    assert len({nxt.sale.sale_no, again.sale.sale_no}) == 2


# ---------------------------------------------------------------- real processes on a scratch data directory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Yaoshi:
    """`yaoshi` commands and processes (`web`, `worker`) on one data directory of their own (SQLite), sharing the
    test run's Redis (sessions, the job queue)."""

    def __init__(self, data_dir: Path, logs: Path | None = None) -> None:
        self.data_dir = data_dir
        self.logs_dir = logs or data_dir.parent  # never on a disk the test fills
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "WEB_CONCURRENCY")}
        self.env.update(YAOSHI_DATA_DIR=str(data_dir), HOST="127.0.0.1", PYTHONUNBUFFERED="1")
        launcher = Path(sys.executable).with_name("yaoshi")
        self.command = [str(launcher)] if launcher.exists() else [sys.executable, "-m", "app.cli"]
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    @property
    def database(self) -> Path:
        return self.data_dir / "yaoshi.sqlite3"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*self.command, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def _start(self, what: str, port: int | None = None) -> subprocess.Popen:
        log = self.logs_dir / f"{what}-{len(self.procs)}.log"
        env = {**self.env, **({"PORT": str(port)} if port else {})}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*self.command, what], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((proc, log))
        return proc

    def web(self) -> str:
        """Start `yaoshi web` on a free port; its base URL once it answers."""
        port = _free_port()
        proc = self._start("web", port)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"yaoshi web exited: {self.logs()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return url
            time.sleep(0.1)  # polling for start-up, not papering over a race
        raise AssertionError(f"yaoshi web did not answer within {STARTUP_SECONDS} s: {self.logs()}")

    def worker(self) -> None:
        self._start("worker")

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for _, log in self.procs)

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _read(database: Path, sql: str, *args: object) -> list[tuple]:
    """Rows as another process sees them (committed ones only), on a read-only connection."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _one(database: Path, sql: str, *args: object) -> object:
    return _read(database, sql, *args)[0][0]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory migrated and seeded with the demo data once (`yaoshi migrate`, `yaoshi seed demo`);
    each test works on a copy of it (`_copy`)."""
    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    app = Yaoshi(data_dir)
    app.cli("migrate")
    app.cli("seed", "demo")
    return data_dir


def _copy(seeded: Path, to: Path, logs: Path) -> Yaoshi:
    shutil.copytree(seeded, to)
    return Yaoshi(to, logs)


# What a sale writes, besides its own row: none of it may stay of a sale that failed.
SALE_TABLES = (
    "sale",
    "sale_line",
    "sale_tender",
    "sale_trace_code",
    "stock_move",
    "points_entry",
    "member_loyalty",
    "medication",
    "member_event",
    "outbox",
    "audit_event",
)


def _counts(database: Path) -> dict[str, int]:
    return {table: int(_one(database, f"SELECT COUNT(*) FROM {table}")) for table in SALE_TABLES}


# ---------------------------------------------------------------- a disk that fills at COMMIT


@contextlib.contextmanager
def _small_disk(size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` mounted for the test; skips where the machine forbids mounting."""
    mount_point = Path(tempfile.mkdtemp(prefix="yaoshi-full-"))
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        done = None
    if done is None or done.returncode != 0:
        mount_point.rmdir()
        reason = done.stderr.strip() if done is not None else "no mount command"
        pytest.skip(f"this machine does not let the tests mount a small tmpfs ({reason})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def _fill(disk: Path, leave: int) -> Path:
    """Write a file that leaves `leave` bytes free on `disk`."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.write(b"\0" * (free - leave))
    stat = os.statvfs(disk)
    assert stat.f_bavail * stat.f_frsize == leave
    return filler


def _empty_log(database: Path) -> None:
    """Copy the WAL into the database and truncate it: the next commit has to find new room for its log frames."""
    conn = sqlite3.connect(database)
    try:
        deadline = time.monotonic() + 10
        while conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
            assert time.monotonic() < deadline, "the server kept the log busy"
            time.sleep(0.05)  # the server's own checkpoint of the warm-up sale is running
    finally:
        conn.close()
    assert (database.with_name(database.name + "-wal")).stat().st_size == 0


def _sale_body(key: str, member_no: str, lines: list[tuple[str, int]], prices: dict[str, int], **extra: object) -> dict:
    return {
        "idempotency_key": key,
        "store": STORE,
        "member_no": member_no,
        "lines": [{"code": sku, "qty": qty} for sku, qty in lines],
        "tenders": [{"kind": "cash", "amount": sum(prices[sku] * qty for sku, qty in lines)}],
        **extra,
    }


async def test_a_disk_that_fills_at_commit(seeded: Path, tmp_path: Path) -> None:
    """The embedded database's disk fills up while sales are being recorded: their log frames do not fit at
    COMMIT. Every affected request gets an error (a replay of one of them too), no one reads their rows in the
    meantime, nothing of them stays (no line, stock move, points, timeline or audit row — an allergy override is
    audited in the sale's transaction), and once there is room again the next sale takes neither the id nor the
    number of one that failed."""
    with _small_disk() as disk:
        app = _copy(seeded, disk / "data", logs=tmp_path)
        try:
            token = app.cli("token", "add", "pharmacist").strip()
            db = app.database
            prices = dict(_read(db, "SELECT sku, price FROM product"))
            member = _one(db, "SELECT member_no FROM member WHERE allergy_status = 'none' ORDER BY id")
            allergic = _one(db, "SELECT m.member_no FROM member m JOIN allergy a ON a.member = m.id ORDER BY m.id")
            otc = [r[0] for r in _read(db, "SELECT sku FROM product WHERE rx_class = 'OTC' AND allergen_classes = ''")]
            # A high allergy alert overridden by the pharmacist: the override's audit row is in the sale's
            # transaction.
            penicillin = _one(db, "SELECT sku FROM product WHERE allergen_classes = 'penicillins' ORDER BY sku")
            url = app.web()
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
                warm = await client.post(
                    "/api/v1/sales", json=_sale_body("warm", member, [(otc[0], 1)], prices)
                )  # connections open, caches warm
                assert warm.status_code == 201, warm.text
                before = _counts(db)
                _empty_log(db)
                filler = _fill(disk, leave=8192)  # two pages: room for one commit of one page, no more

                bodies = [
                    _sale_body(
                        "override",
                        allergic,
                        [(penicillin, 1)],
                        prices,
                        allergy_override={"reason": "已做皮试，医生确认"},
                        prescription={"number": "RX-1", "hospital": "瑞金医院"},
                    ),
                    _sale_body("plain-1", member, [(otc[1], 2), (otc[2], 1)], prices),
                    _sale_body("plain-2", member, [(otc[3], 1)], prices),
                ]
                bodies.append(dict(bodies[1]))  # a replay of one of them, at the same time
                serial = int(warm.json()["sale_no"][-8:])
                candidates = [f"S{STORE}{serial + n:08d}" for n in range(1, 6)]
                writing = True
                read_statuses: list[int] = []

                async def reader() -> None:
                    while writing:
                        for sale_no in candidates:
                            read_statuses.append((await client.get(f"/api/v1/sales/{sale_no}")).status_code)

                readers = [asyncio.create_task(reader()) for _ in range(2)]
                answers = await asyncio.gather(*(client.post("/api/v1/sales", json=body) for body in bodies))
                writing = False
                await asyncio.gather(*readers)

                assert [a.status_code for a in answers if a.status_code < 500] == [], [a.text for a in answers]
                assert read_statuses and set(read_statuses) == {404}, "a reader saw a sale that was not committed"
                given = int(_one(db, "SELECT value FROM number_sequence WHERE name = 'sale'"))
                filler.unlink()
                assert _read(db, "PRAGMA integrity_check") == [("ok",)]
                assert _counts(db) == before  # nothing half-written, no audit row about a failed sale

                after = await client.post("/api/v1/sales", json=_sale_body("after", member, [(otc[4], 1)], prices))
                assert after.status_code == 201, after.text
                replayed = await client.post("/api/v1/sales", json=bodies[1])  # the failed sale, sent again
                assert replayed.status_code == 201, replayed.text
            # The first sale of the burst took its number in a commit that still fitted on the disk; that number
            # stays taken, and the sales after the disk was freed continue above it.
            assert given > serial
            numbers = [after.json()["sale_no"], replayed.json()["sale_no"]]
            assert numbers == [f"S{STORE}{given + 1:08d}", f"S{STORE}{given + 2:08d}"]
            assert [r[0] for r in _read(db, "SELECT id FROM sale ORDER BY id")] == [serial, given + 1, given + 2]
        finally:
            app.stop()


# ---------------------------------------------------------------- two web processes and the worker


def _csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def _log_in(client: httpx.AsyncClient, base: str, username: str) -> dict[str, str]:
    page = await client.get(f"{base}/login")
    token = _csrf(page.text)
    done = await client.post(
        f"{base}/login", data={"_csrf_token": token, "username": username, "password": DEMO_PASSWORD}
    )
    assert done.status_code == 303, done.text
    # Each counter is a tablet of the store: named once, as the counter asks on a tablet's first visit.
    named = await client.post(f"{base}/counter/device", data={"_csrf_token": token, "name": f"POS {username}"})
    assert named.status_code == 303, named.text
    return {**HX, "x-csrftoken": token}


def _cart_lines(html: str) -> dict[str, int]:
    return {
        sku: int(qty) for sku, qty in re.findall(r'data-testid="cart-line" data-sku="([^"]+)"\s+data-qty="(\d+)"', html)
    }


def _import_file(rows: int) -> bytes:
    lines = ["姓名,性别,出生日期,手机号,过敏类别,健康数据授权"]
    lines += [f"导入{n:04d},女,1970-01-{1 + n % 28:02d},1370{n:07d},," for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def test_two_web_processes_and_the_worker_on_one_sqlite_file(seeded: Path, tmp_path: Path) -> None:
    """Three counters sell through two web processes at once (each request to either one, every checkout tapped
    on both), while the worker imports members into the same SQLite file: every sale, stock move, points entry,
    cart line and imported member is there exactly once."""
    app = _copy(seeded, tmp_path / "data", logs=tmp_path)
    try:
        db = app.database
        member = _one(db, "SELECT member_no FROM member WHERE allergy_status = 'none' ORDER BY id")
        otc = [r[0] for r in _read(db, "SELECT sku FROM product WHERE rx_class = 'OTC' AND allergen_classes = ''")]
        members_before = int(_one(db, "SELECT COUNT(*) FROM member"))
        stock_before = dict(
            _read(
                db,
                "SELECT p.sku, SUM(b.on_hand) FROM stock_batch b JOIN product p ON p.id = b.product"
                " JOIN store s ON s.id = b.store WHERE s.code = ? GROUP BY p.sku",
                STORE,
            )
        )
        webs = [app.web(), app.web()]
        app.worker()
        counters = ["pharmacist", "clerk", "manager"]
        rounds, imported = 5, 300

        async def sell(n: int, username: str) -> list[str]:
            first, second = otc[2 * n], otc[2 * n + 1]
            receipts = []
            async with httpx.AsyncClient(timeout=60) as client:
                headers = await _log_in(client, webs[n % 2], username)
                for r in range(rounds):
                    at = [webs[(n + r + k) % 2] for k in range(4)]  # every step to the other process
                    for base, code in zip(at, (member, first, first, second), strict=True):
                        scanned = await client.post(f"{base}/counter/lookup", data={"code": code}, headers=headers)
                        assert scanned.status_code == 200, scanned.text
                    cart = await client.get(f"{at[0]}/counter/cart", headers=headers)
                    assert _cart_lines(cart.text) == {first: 2, second: 1}
                    key = re.search(r'name="key" value="([0-9a-f]+)"', cart.text)
                    assert key, "no checkout form"
                    form = {"key": key.group(1), "kind": "cash"}
                    taps = await asyncio.gather(
                        *(client.post(f"{base}/counter/checkout", data=form, headers=headers) for base in webs)
                    )
                    paid = {tap.headers.get("HX-Redirect", f"{tap.status_code}: {tap.text[:300]}") for tap in taps}
                    assert len(paid) == 1, paid  # both taps show the one receipt
                    receipts.append(paid.pop())
            return receipts

        async def import_members() -> str:
            async with httpx.AsyncClient(timeout=60) as client:
                await _log_in(client, webs[1], "pharmacist")
                form = await client.get(f"{webs[1]}/members/import")
                token = _csrf(form.text)
                upload = await client.post(
                    f"{webs[1]}/members/import",
                    data={"_csrf_token": token},
                    files={"file": ("customers.csv", _import_file(imported), "text/csv")},
                    headers={"x-csrftoken": token},
                )
                assert upload.status_code == 303, upload.text
                return upload.headers["location"]

        job, *sold = await asyncio.gather(import_members(), *(sell(n, u) for n, u in enumerate(counters)))
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=60) as client:
            await _log_in(client, webs[0], "pharmacist")
            while 'data-status="done"' not in (progress := (await client.get(f"{webs[0]}{job}")).text):
                assert 'data-status="failed"' not in progress and time.monotonic() < deadline, app.logs()
                await asyncio.sleep(0.2)  # the worker's job runs on its own; this waits for it to finish
        accepted = re.search(r'data-testid="count-accepted">(\d+)<', progress)
        assert accepted and int(accepted.group(1)) == imported

        receipts = [url for sale in sold for url in sale]
        sale_nos = sorted(re.fullmatch(r"/counter/sales/([^/]+)/receipt", url).group(1) for url in receipts)
        assert len(sale_nos) == len(set(sale_nos)) == len(counters) * rounds
        assert sorted(r[0] for r in _read(db, "SELECT sale_no FROM sale")) == sale_nos
        lines = _read(
            db,
            "SELECT s.sale_no, p.sku, l.qty FROM sale_line l JOIN sale s ON s.id = l.sale"
            " JOIN product p ON p.id = l.product ORDER BY s.sale_no, p.sku",
        )
        assert len(lines) == 2 * len(sale_nos)
        for n, _ in enumerate(counters):
            first, second = otc[2 * n], otc[2 * n + 1]
            mine = {no for no, sku, _ in lines if sku == first}
            assert len(mine) == rounds and {(no, sku, qty) for no, sku, qty in lines if no in mine} == {
                *((no, first, 2) for no in mine),
                *((no, second, 1) for no in mine),
            }
            for sku in (first, second):
                left = _one(
                    db,
                    "SELECT SUM(b.on_hand) FROM stock_batch b JOIN product p ON p.id = b.product"
                    " JOIN store s ON s.id = b.store WHERE s.code = ? AND p.sku = ?",
                    STORE,
                    sku,
                )
                assert left == stock_before[sku] - rounds * (2 if sku == first else 1)
        moves = _read(db, "SELECT ref, SUM(qty) FROM stock_move WHERE kind = 'sale' GROUP BY ref")
        assert dict(moves) == dict.fromkeys(sale_nos, -3)
        earned = _read(db, "SELECT ref, COUNT(*) FROM points_entry WHERE kind = 'earn' GROUP BY ref")
        assert dict(earned) == dict.fromkeys(sale_nos, 1)
        carts = _read(db, "SELECT status, lines FROM cart WHERE sale IS NOT NULL")
        assert len(carts) == len(sale_nos) and {status for status, _ in carts} == {"done"}
        for _, cart_lines in carts:
            assert sorted(line["qty"] for line in json.loads(cart_lines)) == [1, 2]
        assert int(_one(db, "SELECT COUNT(*) FROM member")) == members_before + imported
    finally:
        app.stop()
