"""`make bench-import`: import 100,000-row messy customer files (.xlsx and .csv) through the real SAQ worker.

Everything runs in a scratch data directory on the embedded default (SQLite file + the bundled redis-server;
a scratch PostgreSQL database when DATABASE_URL names a server, REDIS_URL for an external Redis). The bench
seeds a chain of existing members and starts one worker process. For each format it writes a messy file (bad
phones, duplicates within the file, blank lines, wrong dates, unknown allergy classes, missing names, mixed date
formats) and times the import from enqueue to done; then imports the same file again (every row now matches a
member: the re-run must change nothing). Peak memory is the worker's own high-water mark (VmHWM in /proc,
reset before each run). For scale, each file is also read with no validation or database work (the floor), and
a no-op job is timed through the same queue.

Environment: BENCH_ROWS (100000), BENCH_EXISTING members seeded first (20000), BENCH_FORMAT ("xlsx,csv", or
one of them), BENCH_SEED (7), DATABASE_URL, REDIS_URL. Targets: ≤ 60 s per import, worker peak RSS ≤ 300 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"  # noqa: E501
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "158"]
MOBILE_PREFIXES += ["159", "166", "177", "180", "181", "182", "185", "186", "187", "188", "189", "199"]
ALLERGIES = ["penicillins", "nsaids", "cephalosporins", "sulfonamide_antibiotics", "青霉素类", "头孢菌素类", "海鲜"]
CONDITIONS = ["hypertension", "diabetes", "dyslipidemia", "高血压", "糖尿病", "gout", "痛风"]
HEADER = ["姓名", "性别", "出生日期", "手机号", "地址", "身份证号", "会员类别", "单位", "过敏类别", "慢病"]
HEADER += ["健康数据授权", "短信营销授权", "微信营销授权", "自助机显示授权"]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
DISTRICTS = ["静安区南京西路", "徐汇区漕溪北路", "浦东新区世纪大道", "黄浦区淮海中路", "长宁区延安西路"]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# ---------------------------------------------------------------- the messy file


def _id_number(birth: date, rng: random.Random) -> str:
    body = f"310{rng.randrange(100, 120):03d}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def messy_rows(count: int, seed: int) -> tuple[list[list[str]], dict[str, int]]:
    """`count` data rows (plus blank lines) and how many of each kind of mess they hold."""
    rng = random.Random(seed)
    today = date.today()
    phones = rng.sample(range(10**8), count)
    rows: list[list[str]] = []
    kinds = dict.fromkeys(
        ("clean", "repeat", "bad_phone", "bad_date", "unknown_allergy", "no_name", "no_consent", "blank"), 0
    )
    written = 0
    while written < count:
        roll = rng.random()
        if rows and roll < 0.03:
            rows.append(list(rng.choice([r for r in rows[-50:] if r] or [rows[0]])))
            kinds["repeat"] += 1
            written += 1
            continue
        if roll < 0.04:
            rows.append([])
            kinds["blank"] += 1
            continue
        gender = rng.choice("男女")
        birth = today - timedelta(days=rng.randint(18 * 365, 90 * 365))
        birth_text = rng.choice([birth.isoformat(), f"{birth.year}/{birth.month}/{birth.day}", f"{birth:%Y%m%d}"])
        phone = rng.choice(MOBILE_PREFIXES) + f"{phones[written]:08d}"
        row = [
            rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else ""),
            gender if rng.random() < 0.9 else "",
            birth_text if rng.random() < 0.9 else "",
            phone,
            f"上海市{rng.choice(DISTRICTS)}{rng.randint(1, 999)}号" if rng.random() < 0.3 else "",
            _id_number(birth, rng) if rng.random() < 0.2 and birth_text else "",
            rng.choice(["", "", "会员", "普通", "member"]),
            "",
            "",
            "",
            "",
            rng.choice(["", "是", "否"]),
            rng.choice(["", "是", "否"]),
            "",
        ]
        if row[5]:
            row[2] = birth.isoformat()
        if rng.random() < 0.25:
            row[8] = ";".join(rng.sample(ALLERGIES, rng.randint(1, 2))) if rng.random() < 0.85 else "无"
            row[10] = "是"
        if rng.random() < 0.15:
            row[9] = ";".join(rng.sample(CONDITIONS, rng.randint(1, 2)))
            row[10] = "是"
        mess = rng.random()
        if mess < 0.02:
            row[3] = rng.choice(["1234567", "2381234123", "138-1234", "1380013800000"])
            kinds["bad_phone"] += 1
        elif mess < 0.03:
            row[2], row[5] = rng.choice(["1985-13-45", "31/02/1990", "2199-01-01", "1890-05-05"]), ""
            kinds["bad_date"] += 1
        elif mess < 0.035:
            row[8], row[10] = "penicillins;kryptonite", "是"
            kinds["unknown_allergy"] += 1
        elif mess < 0.04:
            row[0] = ""
            kinds["no_name"] += 1
        elif mess < 0.045 and row[8]:
            row[10] = ""
            kinds["no_consent"] += 1
        else:
            kinds["clean"] += 1
        rows.append(row)
        written += 1
    return rows, kinds


def write_file(path: Path, rows: list[list[str]]) -> None:
    """Write the rows under the template's Chinese header, as CSV or (by suffix) XLSX."""
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("客户")
        ws.append(HEADER)
        for row in rows:
            # Excel stores no cell for an empty one.
            ws.append([v if v != "" else None for v in row] or [None])
        wb.save(path)
        return
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


# ---------------------------------------------------------------- scratch instance


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Scratch:
    """A temporary data directory (its own SQLite file and redis-server), or a scratch PostgreSQL database."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="yaoshi-import-bench-"))
        self.redis_proc = None
        self.pg_db: str | None = None
        self.admin_url: str | None = None
        os.environ.pop("YAOSHI_DEBUG", None)
        os.environ["YAOSHI_DATA_DIR"] = str(self.dir)
        given = os.environ.get("DATABASE_URL", "")
        if given.startswith(("postgres://", "postgresql://")):
            url = urlparse(given)
            self.pg_db = f"{url.path.lstrip('/') or 'postgres'}_import_bench_{os.getpid()}"
            self.admin_url = given
            os.environ["DATABASE_URL"] = urlunparse(url._replace(path="/" + quote(self.pg_db)))
            asyncio.run(_pg_admin(given, f'CREATE DATABASE "{self.pg_db}"'))
            self.tier = "postgresql"
        else:
            os.environ.pop("DATABASE_URL", None)
            self.tier = "sqlite"
        if not os.environ.get("REDIS_URL"):
            from app.redis import start_embedded_redis

            self.redis_proc, os.environ["REDIS_URL"] = start_embedded_redis(self.dir)
            self.redis = "embedded"
        else:
            self.redis = "external"

    def cleanup(self) -> None:
        if self.redis_proc is not None:
            self.redis_proc.terminate()
            self.redis_proc.wait(10)
        if self.pg_db and self.admin_url:
            try:
                asyncio.run(_pg_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)'))
            except Exception as exc:
                print(f"bench: could not drop scratch database {self.pg_db}: {exc}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> bool:
    """Reset the process's RSS high-water mark (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- the runs


async def _with_engine(fn):
    from app.db import engine
    from app.settings import get_settings

    if not get_settings().is_sqlite:
        await engine().start_connection_pool(min_size=1, max_size=4)
    try:
        return await fn()
    finally:
        if not get_settings().is_sqlite:
            await engine().close_connection_pool()


async def setup(existing: int) -> float:
    """Schema, a store manager at SH001 and `existing` members spread over a few stores; returns seconds."""
    from app.components.seed import add_staff, ensure_store, seed_chain
    from app.tables.migrate import migrate

    started = time.perf_counter()
    await migrate()
    await ensure_store("SH001", "上海南京西路店")
    await add_staff("importer", "导入店长", "store_manager", "SH001", "bench-only-password")
    if existing:
        await seed_chain(members=existing, stores=9, seed=11)
    return time.perf_counter() - started


async def _actor():
    from app.components.core.actor import StaffUser
    from app.db import fetch

    row = (
        await fetch(
            "SELECT s.id, s.username, s.display_name, s.role, s.store AS store_id, st.code, st.name"
            " FROM staff s JOIN store st ON st.id = s.store WHERE s.username = 'importer'"
        )
    )[0]
    return StaffUser(
        row["id"], row["username"], row["display_name"], row["role"], row["store_id"], row["code"], row["name"]
    )


async def import_once(path: Path) -> dict:
    """Upload the file, enqueue the job and wait for the worker to finish it; the job's counts and timing."""
    from app.components import imports
    from app.db import fetch
    from app.tasks.imports import enqueue_import

    async def chunks():
        with path.open("rb") as fh:
            while data := fh.read(1 << 20):
                yield data

    actor = await _actor()
    submitted = await imports.submit(actor, path.name, chunks())
    started = time.perf_counter()
    await enqueue_import(submitted.job.key, "zh_CN")
    while True:
        rows = await fetch("SELECT status FROM import_job WHERE job_key = {}", submitted.job.key)
        if rows[0]["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    job = await imports.get_job(submitted.job.key, actor)
    return {
        "seconds": round(elapsed, 2),
        "status": job.status,
        "error": job.error,
        "processed": job.processed,
        "accepted": job.accepted,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
    }


async def noop_job() -> float:
    """Seconds from enqueue to done for a job that does (almost) nothing: the queue's own floor."""
    from app.tasks.queue import make_queue

    queue = make_queue()
    try:
        started = time.perf_counter()
        job = await queue.enqueue("purge_sessions", timeout=10)
        await job.refresh(until_complete=30)
        return time.perf_counter() - started
    finally:
        await queue.disconnect()


def read_floor(path: Path) -> float:
    """Seconds to read every row of the file with no validation or database work."""
    from app.components.imports.reading import data_rows

    started = time.perf_counter()
    width = len(HEADER)
    for _ in data_rows(path, width):
        pass
    return time.perf_counter() - started


def main() -> int:
    rows_wanted = _env_int("BENCH_ROWS", 100_000)
    existing = _env_int("BENCH_EXISTING", 20_000)
    formats = [f.strip().lower() for f in (os.environ.get("BENCH_FORMAT") or "xlsx,csv").split(",") if f.strip()]
    seed = _env_int("BENCH_SEED", 7)
    scratch = Scratch()
    worker = None
    try:
        print(f"bench: scratch data in {scratch.dir} ({scratch.tier}, redis {scratch.redis})")
        seed_s = asyncio.run(_with_engine(lambda: setup(existing)))
        print(f"bench: schema and {existing:,} existing members in {seed_s:.1f} s")
        worker = subprocess.Popen([sys.executable, "-m", "app.tasks.run_worker"], cwd=ROOT, env=dict(os.environ))
        asyncio.run(_with_engine(noop_job))  # waits for the worker to be up
        noop_s = asyncio.run(_with_engine(noop_job))
        idle_kb = _proc_kb(worker.pid, "VmRSS")
        files = []
        for n, fmt in enumerate(formats):
            started = time.perf_counter()
            # Other people for each format, so that each first import really is a first import.
            rows, kinds = messy_rows(rows_wanted, seed + n)
            path = scratch.dir / f"customers.{fmt}"
            write_file(path, rows)
            del rows
            size_mb = path.stat().st_size / 2**20
            took = time.perf_counter() - started
            print(f"bench: wrote {path.name} ({size_mb:.1f} MB, {rows_wanted:,} rows) in {took:.1f} s")
            print("bench: mess: " + ", ".join(f"{k} {v:,}" for k, v in kinds.items()))
            runs = []
            for label in ("first import", "same file again"):
                reset = _reset_peak(worker.pid)
                result = asyncio.run(_with_engine(lambda path=path: import_once(path)))
                result["peak_rss_mb"] = round(_proc_kb(worker.pid, "VmHWM") / 1024, 1)
                result["peak_reset"] = reset
                result["label"] = label
                runs.append(result)
                print(f"bench: {fmt} {label}: {result['seconds']:.1f} s, {result['status']}")
            files.append(
                {
                    "format": fmt,
                    "file_mb": round(size_mb, 2),
                    "mess": kinds,
                    "read_floor_s": read_floor(path),
                    "runs": runs,
                }
            )
        doc = report(rows_wanted, existing, scratch, seed_s, noop_s, idle_kb, files)
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"{stamp}-import-{scratch.tier}.json"
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"results: {out.relative_to(ROOT)}")
        return 0 if doc["pass"]["overall"] else 1
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        scratch.cleanup()


def report(rows, existing, scratch, seed_s, noop_s, idle_kb, files) -> dict:
    """Print the table and return the JSON document."""
    checks = {"time": True, "memory": True, "done": True, "rerun_changes_nothing": True}
    print()
    print(
        f"yaoshi import bench: {scratch.tier} + redis {scratch.redis}, {rows:,}-row messy files,"
        f" {existing:,} members before, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'run':<24}{'seconds':>9}{'rows/s':>9}{'× floor':>9}{'peak MB':>9}"
        f"{'new':>8}{'updated':>9}{'unchanged':>11}{'rejected':>10}  verdict"
    )
    print(header)
    print("-" * len(header))
    print(f"{'no-op job':<24}{noop_s:>9.3f}{'':>18}{idle_kb / 1024:>9.1f}{'':>38}  floor (idle worker RSS)")
    for f in files:
        floor_s = f["read_floor_s"]
        first, again = f["runs"]
        expected_again = (0, 0, first["accepted"] + first["updated"] + first["unchanged"], first["rejected"])
        idempotent = (again["accepted"], again["updated"], again["unchanged"], again["rejected"]) == expected_again
        checks["rerun_changes_nothing"] &= idempotent
        label = f"{f['format']} read only"
        print(f"{label:<24}{floor_s:>9.2f}{rows / floor_s:>9.0f}{1:>9.1f}{'':>47}  floor ({f['file_mb']:.1f} MB file)")
        for r in f["runs"]:
            ok_time = r["seconds"] <= TARGET_SECONDS
            ok_mem = r["peak_rss_mb"] <= TARGET_RSS_MB
            ok_done = r["status"] == "done" and r["processed"] == rows
            checks["time"] &= ok_time
            checks["memory"] &= ok_mem
            checks["done"] &= ok_done
            verdict = f"time {'PASS' if ok_time else 'FAIL'} (≤{TARGET_SECONDS:.0f}),"
            verdict += f" memory {'PASS' if ok_mem else 'FAIL'} (≤{TARGET_RSS_MB:.0f})"
            verdict += "" if ok_done else f", FAIL: {r['status']} after {r['processed']} rows"
            if r is again:
                verdict += f", re-run {'changes nothing' if idempotent else 'CHANGED THINGS: FAIL'}"
            label = f"{f['format']} {r['label']}"
            print(
                f"{label:<24}{r['seconds']:>9.2f}{rows / r['seconds']:>9.0f}{r['seconds'] / floor_s:>9.1f}"
                f"{r['peak_rss_mb']:>9.1f}{r['accepted']:>8}{r['updated']:>9}{r['unchanged']:>11}{r['rejected']:>10}"
                f"  {verdict}"
            )
    passed = all(checks.values())
    print("-" * len(header))
    print(f"overall: {'PASS' if passed else 'FAIL'}   (setup took {seed_s:.1f} s)")
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "tier": scratch.tier,
        "redis": scratch.redis,
        "config": {"rows": rows, "existing_members": existing},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "setup_seconds": round(seed_s, 2),
        "noop_job_seconds": round(noop_s, 4),
        "idle_worker_rss_mb": round(idle_kb / 1024, 1),
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_mb": TARGET_RSS_MB},
        "files": files,
        "pass": {**checks, "overall": passed},
    }


if __name__ == "__main__":
    sys.exit(main())
