"""The mutation runner's own rules: each operator makes the change it names, and every configured target exists."""

from __future__ import annotations

import types

import pytest

from tests.mutation import mutator
from tests.mutation.config import EQUIVALENT, MODULES
from tests.mutation.mutator import Target, mutant_code, mutants

SAMPLE = '''
def f(a: int, b: list) -> bool:
    """Docstring: never mutated."""
    if a < 10 and b:
        b.append(a + 1)
    return max(a, 0) == len(b[0:]) or not b


def g(items: list) -> int:
    total = 0
    for x in items:
        if x is None:
            continue
        total += x * 2
    return total if total > 0 else items[0]
'''


@pytest.fixture
def sample(tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(mutator, "ROOT", tmp_path)
    (tmp_path / "sample.py").write_text(SAMPLE, encoding="utf-8")
    return "sample.py"


def test_each_operator_makes_the_change_it_names(sample: str) -> None:
    found = {(m.function, m.operator, m.change) for m in mutants(sample, [Target("f"), Target("g")])}
    for expected in [
        ("f", "cmp", "`<` → `<=`"),
        ("f", "bool", "`and` → `or`"),
        ("f", "arith", "`+` → `-`"),
        ("f", "const", "`10` → `11`"),
        ("f", "const", "`10` → `9`"),
        ("f", "call", "`max(…)` → `min(…)`"),
        ("f", "cond", "condition `a < 10 and b` negated"),
        ("f", "stmt", "`b.append(a + 1)` removed"),
        ("f", "return", "`return max(a, 0) == len(b[0:]) or not b` → `return not …`"),
        ("f", "bool", "`not b` → `b`"),
        ("g", "cmp", "`is` → `is not`"),
        ("g", "stmt", "`continue` removed"),
        ("g", "arith", "`+=` → `-=`"),
        ("g", "arith", "`*` → `//`"),
        ("g", "cond", "condition `total > 0` negated"),
        ("g", "const", "`0` → `1`"),
    ]:
        assert expected in found, expected
    assert ("g", "const", "`0` → `-1`") in found  # total = 0, total > 0 …
    last = [m.change for m in mutants(sample, [Target("g")]) if "items[0]" in m.source and m.operator == "const"]
    # `total > 0` gets 0 → 1 and 0 → -1; `items[0]` only 0 → 1 (x[-1] is the same element when x has one)
    assert sorted(last) == ["`0` → `-1`", "`0` → `1`", "`0` → `1`"]


def test_a_mutant_is_a_code_object_of_its_function_that_behaves_differently(sample: str) -> None:
    namespace: dict = {}
    exec(compile(SAMPLE, "sample.py", "exec"), namespace)
    g = namespace["g"]
    assert g([1, None, 2]) == 6
    (flip,) = [m for m in mutants(sample, [Target("g")]) if m.change == "`*` → `//`"]
    qualname, code = mutant_code(sample, [Target("g")], flip.index)
    assert qualname == "g" and isinstance(code, types.CodeType)
    g.__code__ = code
    assert g([1, None, 2]) == 1  # 1 // 2 + 2 // 2


def test_regions_limit_the_lines(sample: str) -> None:
    only = mutants(sample, [Target("g", (("for x in items", "total +="),))])
    assert only and {m.source for m in only} <= {"for x in items:", "if x is None:", "continue"}


def test_every_configured_target_exists() -> None:
    # A renamed function or a moved region anchor in a mutated module fails here, not only in `make mutation`.
    for module in MODULES:
        for file, targets in module.parts:
            assert mutants(file, list(targets)), (module.name, file)  # LookupError names what is missing


def test_every_reviewed_equivalent_names_a_configured_file_and_a_reason() -> None:
    files = {file for module in MODULES for file, _ in module.parts}
    for e in EQUIVALENT:
        assert e.file in files and e.reason.strip() and e.source.strip(), e
