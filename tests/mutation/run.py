"""`make mutation`: mutation testing of the safety-critical modules (allergies, scanning, loyalty, sale totals).

Each mutant is one small change to one function (see tests/mutation/mutator.py); the module's own tests (the
mapping in tests/mutation/config.py) run against it and should fail. The report gives, per module, how many mutants
there were, how many the tests killed, how many survived, and the kill rate (reviewed equivalent mutants left out),
then every surviving mutant with its file, line and change, the reviewed equivalent ones apart with their reason.

    .venv/bin/python tests/mutation/run.py                     # every module, 2 workers
    .venv/bin/python tests/mutation/run.py --module loyalty    # one module
    .venv/bin/python tests/mutation/run.py --survivors         # again only what survived the last run
    .venv/bin/python tests/mutation/run.py --list              # the mutants, without running anything

Workers are pytest sessions (`pytest -x -q -p no:cacheprovider -p tests.mutation.plugin <test files>`) on their own
SQLite file and embedded Redis, fed one mutant at a time; a worker that hangs past the limit is killed and
replaced, and its mutant counts as killed (timeout). Results go to var/mutation/results.json. Exit status 1 when a
module is under its threshold or a survivor is not in the reviewed list.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.mutation.config import EQUIVALENT, MODULES, Equivalent, Module
from tests.mutation.mutator import ROOT, Mutant, mutants
from tests.mutation.plugin import CMD_FD, RESULT_FD, TIMEOUT

OUT = ROOT / "var" / "mutation"
KILLED = ("killed", "timeout")


@dataclass
class Job:
    id: int
    module: str
    mutant: Mutant


def plan(modules: list[Module]) -> list[Job]:
    jobs: list[Job] = []
    for module in modules:
        for file, targets in module.parts:
            for m in mutants(file, list(targets)):
                jobs.append(Job(len(jobs), module.name, m))
    return jobs


class WorkerProcess:
    """One pytest session fed mutants through a pipe."""

    def __init__(self, n: int, tests: list[str], timeout: float) -> None:
        self.n = n
        cmd_read, self.cmd_write = os.pipe()
        self.result_read, result_write = os.pipe()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YAOSHI_DATA_DIR")}
        env.update({CMD_FD: str(cmd_read), RESULT_FD: str(result_write), TIMEOUT: str(timeout)})
        OUT.mkdir(parents=True, exist_ok=True)
        self.log = open(OUT / f"worker-{n}.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "tests.mutation.plugin",
                *tests,
            ],
            cwd=ROOT,
            env=env,
            pass_fds=(cmd_read, result_write),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.close(cmd_read)
        os.close(result_write)
        self.buffer = b""
        self.ready = False
        self.job: Job | None = None
        self.since = time.monotonic()

    def send(self, message: dict) -> None:
        os.write(self.cmd_write, (json.dumps(message) + "\n").encode())
        self.since = time.monotonic()

    def messages(self) -> list[dict]:
        chunk = os.read(self.result_read, 65536)
        if not chunk:
            return [{"event": "eof"}]
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def stop(self, kill: bool = False) -> None:
        try:
            if not kill:
                self.send({"stop": True})
        except OSError:
            pass
        for fd in (self.cmd_write, self.result_read):
            try:
                os.close(fd)
            except OSError:
                pass
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def execute(jobs: list[Job], modules: list[Module], workers: int, timeout: float, hang: float) -> dict[int, dict]:
    tests = sorted({t for m in modules for t in m.tests})
    queue = deque(jobs)
    results: dict[int, dict] = {}
    pool = [WorkerProcess(n, tests, timeout) for n in range(min(workers, max(1, len(jobs))))]
    started, total = time.monotonic(), len(jobs)
    restarts, shown = 0, 0
    try:
        while pool and (queue or any(w.job for w in pool)):
            ready, _, _ = select.select([w.result_read for w in pool], [], [], 5)
            for w in list(pool):
                replace = False
                if w.result_read in ready:
                    for msg in w.messages():
                        if msg["event"] == "baseline_failed":
                            raise SystemExit(f"the tests fail without any mutant: {msg['test']}\n{msg['detail']}")
                        if msg["event"] == "eof":
                            if w.job is not None:  # died under a mutant: a crash counts as a kill
                                results[w.job.id] = {"status": "timeout", "detail": "worker died"}
                                w.job = None
                            replace = True
                        elif msg["event"] == "ready":
                            w.ready = True
                            print(f"worker {w.n}: {msg['tests']} tests pass, running mutants", flush=True)
                        elif msg["event"] == "result":
                            results[msg["id"]] = msg
                            if msg["status"] == "timeout":
                                replace = True
                            w.job = None
                elif w.job is not None and time.monotonic() - w.since > hang:
                    results[w.job.id] = {"status": "timeout", "detail": f"no answer in {hang:.0f} s"}
                    w.job = None
                    replace = True
                if replace:
                    w.stop(kill=True)
                    pool.remove(w)
                    restarts += 1
                    if restarts > 20:
                        raise SystemExit("workers keep dying: see var/mutation/worker-*.log")
                    if queue:
                        pool.append(WorkerProcess(w.n, tests, timeout))
                    continue
                if w.ready and w.job is None and queue:
                    w.job = queue.popleft()
                    m = w.job.mutant
                    w.send(
                        {
                            "id": w.job.id,
                            "module": w.job.module,
                            "file": m.file,
                            "index": m.index,
                            "first": m.lineno,
                            "last": m.end_lineno,
                        }
                    )
            done = len(results)
            if done >= shown + 25:
                shown = done
                rate = (time.monotonic() - started) / done
                print(f"  {done}/{total} mutants, ~{rate * (total - done) / 60:.0f} min to go", flush=True)
    finally:
        for w in pool:
            w.stop()
    return results


def _equivalent(m: Mutant, taken: dict[Equivalent, int]) -> Equivalent | None:
    """The reviewed entry this survivor matches, while the entry covers fewer survivors than its `count` (a new
    survivor of the same text beyond it is not hidden)."""
    for e in EQUIVALENT:
        if e.file == m.file and e.change == m.change and e.source == m.source and taken.get(e, 0) < e.count:
            taken[e] = taken.get(e, 0) + 1
            return e
    return None


def report(jobs: list[Job], results: dict[int, dict], modules: list[Module]) -> int:
    status = 0
    rows = []
    survivors: dict[str, list[tuple[Mutant, dict, Equivalent | None]]] = {}
    used: set[Equivalent] = set()
    taken: dict[Equivalent, int] = {}
    for module in modules:
        mine = [j for j in jobs if j.module == module.name]
        killed = sum(1 for j in mine if results[j.id]["status"] in KILLED)
        alive = [
            (j.mutant, results[j.id], _equivalent(j.mutant, taken))
            for j in mine
            if results[j.id]["status"] not in KILLED
        ]
        used.update(e for _, _, e in alive if e)
        equivalent = sum(1 for _, _, e in alive if e)
        scored = len(mine) - equivalent
        rate = killed / scored if scored else 1.0
        unexplained = len(alive) - equivalent
        if rate < module.threshold or unexplained:
            status = 1
        rows.append((module.name, len(mine), killed, len(alive), equivalent, rate, module.threshold))
        survivors[module.name] = alive
    print()
    print(f"{'module':<12} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv.':>6} {'kill rate':>9}  (wanted)")
    for name, n, killed, alive, equivalent, rate, threshold in rows:
        print(f"{name:<12} {n:>7} {killed:>6} {alive:>8} {equivalent:>6} {rate:>9.1%}  (≥ {threshold:.0%})")
    print("kill rate = killed / (mutants − reviewed equivalent); survived includes the equivalent ones")
    for name, alive in survivors.items():
        if not alive:
            continue
        unexplained = [(m, r) for m, r, e in alive if e is None]
        explained = [(m, r, e) for m, r, e in alive if e is not None]
        print(f"\n{name}: {len(alive)} surviving")
        for m, r in unexplained:
            how = "no test runs this line" if r["status"] == "uncovered" else r["status"]
            print(f"  SURVIVED {m.where} in {m.function}: {m.change}  [{how}]\n           {m.source}")
        for m, _r, e in explained:
            moved = f" (reviewed at line {e.line})" if e.line != m.lineno else ""
            print(
                f"  equivalent {m.where}{moved} in {m.function}: {m.change}\n           {m.source}\n"
                f"           why: {e.reason}"
            )
    names = {f for module in modules for f, _ in module.parts}
    stale = [e for e in EQUIVALENT if e.file in names and e not in used]
    if stale:
        print("\nReviewed equivalents that no longer survive (remove them from tests/mutation/config.py):")
        for e in stale:
            print(f"  {e.file}:{e.line}: {e.change}  {e.source}")
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=[m.name for m in MODULES])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=20.0, help="per-test limit floor, seconds")
    parser.add_argument("--hang", type=float, default=300.0, help="a worker silent this long is replaced")
    parser.add_argument("--survivors", action="store_true", help="only mutants that survived the last run")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args()
    modules = [m for m in MODULES if not args.module or m.name in args.module]
    jobs = plan(modules)
    if args.list:
        for j in jobs:
            print(f"{j.module:<12} {j.mutant.where:<40} {j.mutant.function:<28} {j.mutant.change}")
        print(f"{len(jobs)} mutants")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "results.json"
    previous = json.loads(store.read_text()) if store.exists() else {}
    key = lambda j: f"{j.mutant.file}#{j.mutant.index}"  # noqa: E731
    todo = jobs
    kept: dict[int, dict] = {}
    if args.survivors:
        todo = []
        for j in jobs:
            old = previous.get(j.module, {})
            # Unchanged production code: the same mutants; a killed one stays killed by the same (or more) tests.
            same = old.get("source") == _source_digest(j.module)
            r = old.get("results", {}).get(key(j)) if same else None
            if r is not None and r["status"] in KILLED:
                kept[j.id] = r
            else:
                todo.append(j)
    print(f"{len(todo)} mutants to run in {', '.join(m.name for m in modules)} ({args.workers} workers)", flush=True)
    started = time.monotonic()
    results = {**kept, **execute(todo, modules, args.workers, args.timeout, args.hang)}
    for m in modules:
        previous[m.name] = {
            "source": _source_digest(m.name),
            "results": {key(j): results[j.id] for j in jobs if j.module == m.name},
            "mutants": {key(j): asdict(j.mutant) for j in jobs if j.module == m.name},
        }
    store.write_text(json.dumps(previous, indent=1, ensure_ascii=False))
    print(f"\n{len(todo)} mutants run in {(time.monotonic() - started) / 60:.1f} min")
    return report(jobs, results, modules)


def _source_digest(name: str) -> str:
    module = next(m for m in MODULES if m.name == name)
    h = hashlib.sha256()
    for file, targets in module.parts:
        h.update((ROOT / file).read_bytes())
        h.update(repr(targets).encode())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    sys.exit(main())
