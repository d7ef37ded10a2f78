"""A small AST mutator: every one-change mutant of chosen functions of a module, compiled to code objects to swap in.

A mutant changes one node inside one function (or one marked region of it); its code object replaces the running
function's `__code__`, so every caller, however it imported the function, runs the mutant. Module-level code is
never mutated (it ran at import). Operators, each a change a slip of the keyboard or of the mind could make:

- `cmp`: boundary shifts `<` ↔ `<=`, `>` ↔ `>=`; flips `==` ↔ `!=`, `in` ↔ `not in`, `is` ↔ `is not`
- `arith`: `+` ↔ `-`, `*` → `//`, `//` → `*`, `/` → `*`, `%` → `//`, `**` → `*` (also in `+=` …)
- `const`: an integer n → n + 1 and n − 1 (but `x[0]` → `x[1]` only: `x[-1]` is the same element whenever x
  has one, as a query's single row has); `True` ↔ `False`
- `bool`: `and` ↔ `or`; `not x` → `x`; `-x` → `x`
- `call`: `min` ↔ `max`, `any` ↔ `all`
- `cond`: the condition of an `if`, `while`, `… if … else …` or comprehension `if` negated
- `return`: `return x` → `return not x` in a function declared `-> bool`
- `stmt`: a statement removed (a call, `x += …`, an assignment to an attribute or item, `raise`, `break`,
  `continue`)

Strings are left alone (messages have their own tests), and so are docstrings, annotations and what `_()` is given.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """A function to mutate (`name` or `Class.name`), optionally only the lines of some regions of it: a region
    runs from the first line containing `start` up to, not including, the first later line containing `end` (None:
    to the function's end)."""

    qualname: str
    regions: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Mutant:
    """One change: where (file, function, line), which operator, and what it does in words."""

    index: int
    file: str  # relative to the project root
    function: str  # qualified name of the top-level function or method whose code is swapped
    lineno: int
    end_lineno: int
    operator: str
    change: str
    source: str  # the stripped text of the mutated line

    @property
    def where(self) -> str:
        return f"{self.file}:{self.lineno}"


_CMP: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITH: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}
_SYMBOL = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Div: "/",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.And: "and",
    ast.Or: "or",
}
_CALL_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_GETTEXT = {"_", "gettext", "ngettext", "pgettext"}

# A change made in place to a freshly parsed tree (the node, or its parent, as the walk found them).
Apply = Callable[[ast.AST], None]


@dataclass
class _Site:
    node: ast.AST
    operator: str
    change: str
    apply: Apply
    lineno: int
    end_lineno: int


def _is_str_operand(node: ast.AST) -> bool:
    """A string literal, f-string or `_()` call: `+` and `%` on it are concatenation and formatting, not money."""
    if (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _GETTEXT


def _set_op(new: type) -> Apply:
    def apply(node: ast.AST) -> None:
        node.op = new()  # type: ignore[attr-defined]

    return apply


def _set_cmp(i: int, new: type) -> Apply:
    def apply(node: ast.AST) -> None:
        node.ops[i] = new()  # type: ignore[attr-defined]

    return apply


def _set_value(value: object) -> Apply:
    def apply(node: ast.AST) -> None:
        node.value = value  # type: ignore[attr-defined]

    return apply


def _set_boolop(new: type) -> Apply:
    def apply(node: ast.AST) -> None:
        node.op = new()  # type: ignore[attr-defined]

    return apply


def _set_name(new: str) -> Apply:
    def apply(node: ast.AST) -> None:
        node.func.id = new  # type: ignore[attr-defined]

    return apply


class _Sites(ast.NodeVisitor):
    """Walks one function in a fixed order and lists the mutation sites in its wanted lines."""

    def __init__(self, lines: set[int] | None, returns_bool: bool) -> None:
        self.lines = lines
        self.returns_bool = returns_bool
        self.sites: list[_Site] = []
        self.parents: dict[int, tuple[ast.AST, str, int | None]] = {}

    def _wanted(self, node: ast.AST) -> bool:
        return self.lines is None or getattr(node, "lineno", None) in self.lines

    def _add(self, node: ast.AST, operator: str, change: str, apply: Apply, on: ast.AST | None = None) -> None:
        where = on or node
        if self._wanted(where):
            self.sites.append(
                _Site(node, operator, change, apply, where.lineno, getattr(where, "end_lineno", None) or where.lineno)
            )

    def generic_visit(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        self.parents[id(item)] = (node, name, i)
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.parents[id(value)] = (node, name, None)
                self.visit(value)

    # -- the function itself: skip its docstring and argument defaults
    def visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        for i, stmt in enumerate(node.body):
            if stmt in body:
                self.parents[id(stmt)] = (node, "body", i)
                self.visit(stmt)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # a nested def
        self.visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.visit_function(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        for value in node.values:  # the expressions inside an f-string, not its format specs
            if isinstance(value, ast.FormattedValue):
                self.visit(value.value)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _GETTEXT:
            return
        if isinstance(node.func, ast.Name) and node.func.id in _CALL_SWAPS:
            new = _CALL_SWAPS[node.func.id]
            self._add(node, "call", f"`{node.func.id}(…)` → `{new}(…)`", _set_name(new))
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            new = _CMP.get(type(op))
            if new is not None:
                self._add(node, "cmp", f"`{_SYMBOL[type(op)]}` → `{_SYMBOL[new]}`", _set_cmp(i, new))
        self.generic_visit(node)

    def _arith(self, node: ast.BinOp | ast.AugAssign, left: ast.AST, right: ast.AST) -> None:
        new = _ARITH.get(type(node.op))
        if new is None or _is_str_operand(left) or _is_str_operand(right):
            return
        suffix = "=" if isinstance(node, ast.AugAssign) else ""
        self._add(node, "arith", f"`{_SYMBOL[type(node.op)]}{suffix}` → `{_SYMBOL[new]}{suffix}`", _set_op(new))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._arith(node, node.left, node.right)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._arith(node, node.target, node.value)
        self._remove(node, "`" + ast.unparse(node) + "` removed")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        self._add(node, "bool", f"`{_SYMBOL[type(node.op)]}` → `{_SYMBOL[new]}`", _set_boolop(new))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, (ast.Not, ast.USub)):
            symbol = "not " if isinstance(node.op, ast.Not) else "-"
            self._add(
                node,
                "bool",
                f"`{symbol}{ast.unparse(node.operand)}` → `{ast.unparse(node.operand)}`",
                self._replace_with_operand(node),
            )
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add(node, "const", f"`{value}` → `{not value}`", _set_value(not value))
        elif isinstance(value, int):
            self._add(node, "const", f"`{value}` → `{value + 1}`", _set_value(value + 1))
            holder, field, _ = self.parents.get(id(node), (None, "", None))
            if not (value == 0 and isinstance(holder, ast.Subscript) and field == "slice"):
                self._add(node, "const", f"`{value}` → `{value - 1}`", _set_value(value - 1))

    def _negate(self, node: ast.AST, holder: ast.AST, field: str, index: int | None, what: str) -> None:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return  # `not x` → `x` already is this mutant

        def apply(tree_node: ast.AST) -> None:
            current = getattr(tree_node, field) if index is None else getattr(tree_node, field)[index]
            negated = ast.UnaryOp(op=ast.Not(), operand=current)
            if index is None:
                setattr(tree_node, field, negated)
            else:
                getattr(tree_node, field)[index] = negated

        self._add(holder, "cond", f"{what} `{ast.unparse(node)}` negated", apply, on=node)

    def visit_If(self, node: ast.If) -> None:
        self._negate(node.test, node, "test", None, "condition")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test, node, "test", None, "condition")
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test, node, "test", None, "condition")
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for i, test in enumerate(node.ifs):
            self._negate(test, node, "ifs", i, "filter")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        if (
            self.returns_bool
            and value is not None
            and not (isinstance(value, ast.Constant) and isinstance(value.value, bool))
        ):

            def apply(tree_node: ast.AST) -> None:
                tree_node.value = ast.UnaryOp(op=ast.Not(), operand=tree_node.value)  # type: ignore[attr-defined]

            self._add(node, "return", f"`return {ast.unparse(value)}` → `return not …`", apply)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if not isinstance(node.value, ast.Constant):
            self._remove(node, f"`{_short(ast.unparse(node))}` removed")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets):
            self._remove(node, f"`{_short(ast.unparse(node))}` removed")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        self._remove(node, f"`{_short(ast.unparse(node))}` removed")
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._remove(node, "`break` removed")

    def visit_Continue(self, node: ast.Continue) -> None:
        self._remove(node, "`continue` removed")

    # -- helpers that replace a node inside its parent (known when the node is visited)
    def _replace_with_operand(self, node: ast.UnaryOp) -> Apply:
        holder, field, index = self.parents[id(node)]

        def apply(_: ast.AST) -> None:
            if index is None:
                setattr(holder, field, node.operand)
            else:
                getattr(holder, field)[index] = node.operand

        return apply

    def _remove(self, node: ast.stmt, change: str) -> None:
        holder, field, index = self.parents[id(node)]

        def apply(_: ast.AST) -> None:
            getattr(holder, field)[index] = ast.Pass(lineno=node.lineno, col_offset=node.col_offset)

        self._add(node, "stmt", change, apply)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "…"


def _find(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    scope: list[ast.stmt] = tree.body
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        for node in scope:
            last = i == len(parts) - 1
            if last and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == part:
                return node
            if not last and isinstance(node, ast.ClassDef) and node.name == part:
                scope = node.body
                break
        else:
            raise LookupError(f"no function {qualname}")
    raise LookupError(f"no function {qualname}")


def _region_lines(source_lines: list[str], func: ast.AST, target: Target) -> set[int] | None:
    if not target.regions:
        return None
    first, last = func.lineno, func.end_lineno or func.lineno
    wanted: set[int] = set()
    for start, end in target.regions:
        begin = next((n for n in range(first, last + 1) if start in source_lines[n - 1]), None)
        if begin is None:
            raise LookupError(f"{target.qualname}: no line containing {start!r}")
        stop = last + 1
        if end is not None:
            stop = next((n for n in range(begin + 1, last + 1) if end in source_lines[n - 1]), None)
            if stop is None:
                raise LookupError(f"{target.qualname}: no line containing {end!r} after {start!r}")
        wanted.update(range(begin, stop))
    return wanted


def _returns_bool(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return isinstance(func.returns, (ast.Name, ast.Constant)) and (
        getattr(func.returns, "id", None) == "bool" or getattr(func.returns, "value", None) == "bool"
    )


def _sites(tree: ast.Module, source_lines: list[str], target: Target) -> tuple[ast.AST, list[_Site]]:
    func = _find(tree, target.qualname)
    walker = _Sites(_region_lines(source_lines, func, target), _returns_bool(func))
    walker.visit_function(func)
    return func, walker.sites


def mutants(file: str, targets: list[Target]) -> list[Mutant]:
    """Every mutant of `targets` in `file` (relative to the project root), in a fixed order."""
    source = (ROOT / file).read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    found: list[Mutant] = []
    for target in targets:
        _, sites = _sites(tree, lines, target)
        for site in sites:
            found.append(
                Mutant(
                    len(found),
                    file,
                    target.qualname,
                    site.lineno,
                    site.end_lineno,
                    site.operator,
                    site.change,
                    lines[site.lineno - 1].strip(),
                )
            )
    return found


def iter_code(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from iter_code(const)


def mutant_code(file: str, targets: list[Target], index: int) -> tuple[str, types.CodeType]:
    """(function qualname, its mutated code object) for mutant `index` of `mutants(file, targets)`."""
    path = ROOT / file
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    offset = 0
    for target in targets:
        _, sites = _sites(tree, lines, target)
        if index < offset + len(sites):
            site = sites[index - offset]
            site.apply(site.node)
            ast.fix_missing_locations(tree)
            module_code = compile(tree, str(path), "exec", dont_inherit=True)
            for code in iter_code(module_code):
                if code.co_qualname == target.qualname:
                    return target.qualname, code
            raise LookupError(f"no code object for {target.qualname}")
        offset += len(sites)
    raise IndexError(index)
