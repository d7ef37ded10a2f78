"""The pytest side of `make mutation`: one test session per worker runs every mutant the runner hands it.

Starting the suite (migrating the database, starting Redis) takes most of a minute on this machine, and the module's
tests a fraction of a second each, so a worker starts pytest once: it runs the collected tests once as they are
(the baseline, recording which lines of the mutated files each test executes), then for each mutant the runner
sends it swaps the mutated function's code in, runs the tests that execute the mutated lines (fastest first,
stopping at the first failure, each under a time limit), and swaps the original back. Every test still gets its
own fixtures (a clean database and Redis); only the session's are shared.

Active only when tests/mutation/run.py starts pytest with `-p tests.mutation.plugin` and its pipes in the
environment; otherwise it does nothing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import signal
import sys
import time
import types
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from tests.mutation.config import MODULES
from tests.mutation.mutator import ROOT, mutant_code

CMD_FD = "YAOSHI_MUTATION_CMD_FD"
RESULT_FD = "YAOSHI_MUTATION_RESULT_FD"
TIMEOUT = "YAOSHI_MUTATION_TIMEOUT"


class MutantTimeout(BaseException):
    """A test ran past its limit under a mutant (an endless loop, most likely)."""


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(CMD_FD):
        return
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # pragma: no cover
        return
    # Reproducible, no example database written into the work tree, and no deadline (the baseline is traced).
    settings.register_profile(
        "mutation", database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
    )
    settings.load_profile("mutation")


def _module_name(file: str) -> str:
    return file.removesuffix(".py").replace("/", ".")


def _function(module: types.ModuleType, qualname: str) -> types.FunctionType:
    """The function object behind `qualname` (through properties, static/class methods and cache wrappers)."""
    obj: Any = module
    for part in qualname.split("."):
        obj = inspect.getattr_static(obj, part)
    while not isinstance(obj, types.FunctionType):
        if isinstance(obj, property):
            obj = obj.fget
        elif isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        else:
            raise TypeError(f"cannot mutate {qualname}: {type(obj).__name__}")
    return obj


def _clear_caches(module: types.ModuleType) -> None:
    """Results a cached function computed under a mutant (or before it) must not outlive it."""
    for value in vars(module).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear) and getattr(value, "__module__", None) == module.__name__:
            clear()


class _Tracer:
    """Records (file, line) executed in the mutated files, for one test at a time."""

    def __init__(self, files: set[str]) -> None:
        self.files = files
        self.hits: set[tuple[str, int]] = set()

    def __call__(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename in self.files:
            return self._local
        return None

    def _local(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.hits.add((frame.f_code.co_filename, frame.f_lineno))
        return self._local


def _failed(reports: list[Any]) -> Any:
    return next((r for r in reports if r.failed), None)


class Worker:
    def __init__(self, session: pytest.Session) -> None:
        self.session = session
        self.items: list[pytest.Item] = list(session.items)
        self.cmd = os.fdopen(int(os.environ[CMD_FD]), "r", encoding="utf-8")
        self.out = os.fdopen(int(os.environ[RESULT_FD]), "w", encoding="utf-8", buffering=1)
        self.floor = float(os.environ.get(TIMEOUT, "20"))
        self.modules = {m.name: m for m in MODULES}
        self.files = {str(ROOT / file): file for m in MODULES for file, _ in m.parts}
        self.cover: dict[str, set[tuple[str, int]]] = {}
        self.seconds: dict[str, float] = {}
        self.timed_out = False

    def send(self, **message: Any) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def run_item(self, item: pytest.Item, limit: float | None = None) -> Any:
        """Run one test with its own fixtures (the session's stay); the failing report, or None."""
        # What the previous test left set up that this one does not share (another module's fixtures) goes first.
        self.session._setupstate.teardown_exact(item)
        if limit:
            signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            reports = runtestprotocol(item, nextitem=item.parent, log=False)
        finally:
            if limit:
                signal.setitimer(signal.ITIMER_REAL, 0)
        return _failed(reports)

    def baseline(self) -> bool:
        for item in self.items:
            tracer = _Tracer(set(self.files))
            start = time.perf_counter()
            sys.settrace(tracer)
            try:
                failure = self.run_item(item)
            finally:
                sys.settrace(None)
            self.seconds[item.nodeid] = time.perf_counter() - start
            if failure is not None:
                self.send(event="baseline_failed", test=item.nodeid, detail=str(failure.longrepr)[-3000:])
                return False
            self.cover[item.nodeid] = {(self.files[f], line) for f, line in tracer.hits}
        return True

    def tests_for(self, module: str, file: str, first: int, last: int) -> list[pytest.Item]:
        own = self.modules[module].tests
        lines = {(file, n) for n in range(first, last + 1)}
        chosen = [i for i in self.items if i.nodeid.split("::")[0] in own and self.cover[i.nodeid] & lines]
        return sorted(chosen, key=lambda i: self.seconds[i.nodeid])

    def run_mutant(self, module: str, file: str, index: int, first: int, last: int) -> dict[str, Any]:
        targets = list(dict(self.modules[module].parts)[file])
        tests = self.tests_for(module, file, first, last)
        if not tests:
            return {"status": "uncovered"}
        qualname, code = mutant_code(file, targets, index)
        mod = importlib.import_module(_module_name(file))
        func = _function(mod, qualname)
        original = func.__code__
        start = time.perf_counter()
        try:
            func.__code__ = code
        except ValueError as exc:  # a closure with other free variables: cannot happen for top-level functions
            return {"status": "error", "detail": str(exc)}
        _clear_caches(mod)
        try:
            for n, item in enumerate(tests, 1):
                limit = max(self.floor, 10 * self.seconds[item.nodeid])
                failure = self.run_item(item, limit)
                if self.timed_out:
                    return {"status": "timeout", "test": item.nodeid, "ran": n, "seconds": time.perf_counter() - start}
                if failure is not None:
                    return {"status": "killed", "test": item.nodeid, "ran": n, "seconds": time.perf_counter() - start}
            return {"status": "survived", "ran": len(tests), "seconds": time.perf_counter() - start}
        finally:
            func.__code__ = original
            _clear_caches(mod)

    def loop(self) -> None:
        def on_alarm(signum: int, frame: object) -> None:
            self.timed_out = True
            raise MutantTimeout("mutant ran past its time limit")

        if not self.baseline():
            return
        self.send(event="ready", tests=len(self.items))
        signal.signal(signal.SIGALRM, on_alarm)
        for line in self.cmd:
            order = json.loads(line)
            if order.get("stop"):
                break
            result = self.run_mutant(order["module"], order["file"], order["index"], order["first"], order["last"])
            self.send(event="result", id=order["id"], **result)
            if self.timed_out:
                break  # the event loop may be left in any state: the runner starts a fresh worker


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    if not os.environ.get(CMD_FD):
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} errors during collection")
    worker = Worker(session)
    try:
        worker.loop()
    finally:
        session._setupstate.teardown_exact(None)  # the session's fixtures: database pool, event loop
    return True
