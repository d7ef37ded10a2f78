"""Checkers for the architecture rules of app/: they read its import graph with `ast` and never import app code.

Every checker takes the project root (the directory that holds `app/`) and returns the violations it found, sorted;
an empty list means the rule holds. tests/test_architecture.py runs them on the real tree and on small synthetic ones.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

PACKAGE = "app"
COMPONENTS = "app.components"
CORE = "app.components.core"

TOP = "top"
TYPE_CHECKING = "type_checking"


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule at one place: `path:line: message`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Module:
    """One app module: its dotted name, its file (relative to the root, posix) and its syntax tree."""

    name: str
    path: str
    is_package: bool
    tree: ast.Module
    dynamic: bool = False  # whether the text mentions import_module or __import__


@dataclass(frozen=True)
class Import:
    """One module imported by one statement (a `from X import a, b` may yield several: X, X.a if a is a submodule).

    `scope` is TOP, TYPE_CHECKING, or a description of what defers it ("in function f", "under if", "dynamic").
    """

    importer: str
    path: str
    line: int
    target: str
    scope: str
    names: tuple[str, ...] = ()

    @property
    def runtime(self) -> bool:
        """Whether the import ever runs (a TYPE_CHECKING import does not)."""
        return self.scope != TYPE_CHECKING

    @property
    def deferred(self) -> bool:
        """Whether it runs later than the import of its module, if at all at run time."""
        return self.scope not in (TOP, TYPE_CHECKING)

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Project:
    """The parsed modules of app/ and every import statement in them."""

    root: Path
    modules: dict[str, Module]
    imports: tuple[Import, ...]


def within(name: str, prefix: str) -> bool:
    """Whether dotted `name` is `prefix` or lies below it (`app.db` is within `app`, `app.dbx` is not)."""
    return name == prefix or name.startswith(prefix + ".")


def domain_of(name: str) -> str | None:
    """The component domain a dotted name belongs to (`app.components.members.queries` → `members`), if any."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == PACKAGE and parts[1] == "components":
        return parts[2]
    return None


# ---------------------------------------------------------------------------------------------------------- loading

_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], Project]] = {}


def load_project(root: Path) -> Project:
    """Parse every module under `root/app`; reuse the last parse while no file there has changed."""
    root = Path(root).resolve()
    files = sorted(p for p in (root / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    cached = _CACHE.get(root)
    if cached and cached[0] == signature:
        return cached[1]
    modules: dict[str, Module] = {}
    for file in files:
        rel = file.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        text = file.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(rel))
        dynamic = "import_module" in text or "__import__" in text
        modules[".".join(parts)] = Module(".".join(parts), rel.as_posix(), is_package, tree, dynamic)
    imports = tuple(imp for module in modules.values() for imp in _imports_of(module, modules))
    project = Project(root, modules, imports)
    if len(_CACHE) > 8:
        _CACHE.clear()  # synthetic trees are parsed once each; only the real one is worth keeping
    _CACHE[root] = (signature, project)
    return project


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: list[ast.stmt], scope: str) -> Iterator[tuple[ast.stmt, str]]:
    """Every statement of `body`, nested ones too, with the scope it runs in."""

    def inner(kind: str) -> str:
        return kind if scope == TOP else scope

    for node in body:
        yield node, scope
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, f"in function {node.name}()")
        elif isinstance(node, ast.ClassDef):
            yield from _statements(node.body, f"in class {node.name}")
        elif isinstance(node, ast.If):
            yield from _statements(node.body, TYPE_CHECKING if _is_type_checking(node.test) else inner("under if"))
            yield from _statements(node.orelse, inner("under if/else"))
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _statements(block, inner("inside try"))
        elif isinstance(node, ast.With | ast.AsyncWith):
            yield from _statements(node.body, inner("inside with"))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While):
            yield from _statements(node.body, inner("inside a loop"))
            yield from _statements(node.orelse, inner("inside a loop"))
        elif isinstance(node, ast.Match):
            for case in node.cases:
                yield from _statements(case.body, inner("inside match"))


def _resolve_relative(module: Module, level: int, name: str | None) -> str | None:
    """The absolute module a `from .. import` names, or None if it climbs above the top package."""
    if level == 0:
        return name
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if level - 1 >= len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _dynamic_target(call: ast.Call) -> str | None:
    """`importlib.import_module("app.x")` / `__import__("app.x")` with a literal name: the module it imports."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if named and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        target = call.args[0].value
        return target if within(target, PACKAGE) else None
    return None


def _imports_of(module: Module, modules: Mapping[str, Module]) -> Iterator[Import]:
    for node, scope in _statements(module.tree.body, TOP):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module.name, module.path, node.lineno, alias.name, scope)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node.level, node.module)
            if base is None:
                continue
            if not within(base, PACKAGE):
                yield Import(module.name, module.path, node.lineno, base, scope, tuple(a.name for a in node.names))
                continue
            by_target: dict[str, list[str]] = defaultdict(list)
            for alias in node.names:
                # `from pkg import mod` imports the submodule pkg.mod, not a name of pkg's __init__.
                sub = f"{base}.{alias.name}"
                by_target[sub if alias.name != "*" and sub in modules else base].append(alias.name)
            for target, names in by_target.items():
                yield Import(module.name, module.path, node.lineno, target, scope, tuple(names))
    if not module.dynamic:
        return  # walking every node is most of the load time; only a file that names the functions can call them
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            yield Import(module.name, module.path, node.lineno, target, "dynamic (import_module call)")


def _edges(imp: Import, modules: Mapping[str, Module]) -> Iterator[str]:
    """The app modules an import makes its importer depend on: the target and the packages above it.

    A parent package that is also a parent of the importer is left out: Python has begun importing it already
    (a sibling import never re-enters its package's __init__); naming that package explicitly still counts.
    """
    if imp.target in modules and imp.target != imp.importer:
        yield imp.target
    parts = imp.target.split(".")
    for n in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:n])
        if parent in modules and not within(imp.importer, parent):
            yield parent


# ---------------------------------------------------------------------------------------------------------- rule 1


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively; each sorted, singletons included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _shortest_cycle(graph: Mapping[str, Iterable[str]], members: set[str], start: str) -> list[str]:
    """The shortest path start → … → start inside one strongly connected component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt in members and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is on no cycle")


def _cycle_violations(edges: Mapping[tuple[str, str], list[Import]], kind: str) -> list[Violation]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    violations = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(graph, set(component), component[0])
        lines = []
        for a, b in pairwise(cycle):
            # Show a plain top-level import where there is one: that is the edge Python trips over.
            imp = min(edges[a, b], key=lambda i: (i.deferred, i.path, i.line))
            how = f"  ({imp.scope})" if imp.deferred else ""
            lines.append(f"    {imp.where()}  {a} imports {b}{how}")
        knot = ""
        if len(component) > len(cycle) - 1:
            knot = f"\n    (one cycle of a knot of {len(component)} {kind}s: {', '.join(component)})"
        first = min(edges[cycle[0], cycle[1]], key=lambda i: (i.deferred, i.path, i.line))
        message = f"{kind} cycle {' → '.join(cycle)}\n" + "\n".join(lines) + knot
        violations.append(Violation(first.path, first.line, message))
    return sorted(violations)


def check_module_cycles(root: Path) -> list[Violation]:
    """Rule 1a: no cycle in the graph of app modules (every import that runs, deferred ones included)."""
    project = load_project(root)
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in project.imports:
        if imp.runtime:
            for target in _edges(imp, project.modules):
                edges[imp.importer, target].append(imp)
    return _cycle_violations(edges, "module")


def check_domain_cycles(root: Path) -> list[Violation]:
    """Rule 1b: no cycle in the graph of component domains (app/components/<domain>)."""
    project = load_project(root)
    domains = {d for name in project.modules if (d := domain_of(name))}
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in project.imports:
        source, target = domain_of(imp.importer), domain_of(imp.target)
        if imp.runtime and source and target in domains and source != target:
            edges[source, target].append(imp)
    return _cycle_violations(edges, "domain")


# ---------------------------------------------------------------------------------------------------------- rule 2


def check_deferred_imports(root: Path, allowlist: Mapping[str, str]) -> list[Violation]:
    """Rule 2: app modules are imported at module top only (or under `if TYPE_CHECKING:`).

    `allowlist` maps a file (relative to root) to the reason it may defer its imports; an entry whose file is gone
    or no longer defers an import is reported too, so the list cannot go stale.
    """
    project = load_project(root)
    violations = []
    deferring: set[str] = set()
    for imp in project.imports:
        if imp.deferred and within(imp.target, PACKAGE):
            deferring.add(imp.path)
            if imp.path not in allowlist:
                violations.append(Violation(imp.path, imp.line, f"imports {imp.target} {imp.scope}"))
    for path, reason in allowlist.items():
        if not reason.strip():
            violations.append(Violation(path, 0, "allowlist entry without a reason"))
        elif path not in deferring:
            violations.append(Violation(path, 0, "allowlisted, but defers no app import any more: drop the entry"))
    return sorted(violations)


# ---------------------------------------------------------------------------------------------------------- rule 3

ROUTES = "app.routes"
ROUTE_FORBIDDEN_IMPORTS = ("app.db", "app.tables", "piccolo", "sqlite3", "asyncpg")
TRANSACTION_CALLS = ("transaction", "atomic")
SQL = re.compile(
    r"\bSELECT\b[\s\S]+?\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+(?:[\w.\"`]+\s+){1,3}SET\b|\bDELETE\s+FROM\b",
    re.IGNORECASE,
)
# UI text ("Select the member from the list") is not SQL: strings handed to these are not scanned.
GETTEXT_CALLS = ("_", "gettext", "ngettext", "pgettext", "npgettext", "lazy_gettext", "gettext_lazy", "_l")


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _literal_strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings and gettext messages; an f-string as one text."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                skip.add(id(node.body[0].value))
        elif isinstance(node, ast.Call) and _call_name(node) in GETTEXT_CALLS:
            skip.update(id(n) for arg in node.args for n in ast.walk(arg))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "x" for v in node.values]
            skip.update(id(v) for v in node.values)
            yield node.lineno, "".join(str(p) for p in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def check_routes_do_no_storage_work(root: Path) -> list[Violation]:
    """Rule 3: app/routes imports no storage module, holds no SQL text and opens no transaction."""
    project = load_project(root)
    violations = []
    for imp in project.imports:
        if within(imp.importer, ROUTES):
            hit = next((f for f in ROUTE_FORBIDDEN_IMPORTS if within(imp.target, f)), None)
            if hit:
                violations.append(Violation(imp.path, imp.line, f"imports {imp.target}"))
    for module in project.modules.values():
        if not within(module.name, ROUTES):
            continue
        for line, text in _literal_strings(module.tree):
            if match := SQL.search(text):
                snippet = " ".join(match.group(0).split())
                snippet = snippet if len(snippet) <= 60 else snippet[:57] + "…"
                violations.append(Violation(module.path, line, f"SQL in a string literal: {snippet!r}"))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and _call_name(node) in TRANSACTION_CALLS:
                violations.append(Violation(module.path, node.lineno, f"calls {_call_name(node)}()"))
    return sorted(violations)


# ---------------------------------------------------------------------------------------------------------- rule 4


def check_domains_reached_through_package(root: Path) -> list[Violation]:
    """Rule 4: outside its own package, a domain is imported as `app.components.<domain>`, never its modules."""
    project = load_project(root)
    violations = []
    for imp in project.imports:
        domain = domain_of(imp.target)
        if domain is None or len(imp.target.split(".")) <= 3 or domain_of(imp.importer) == domain:
            continue
        if domain == "core":  # core's small modules (errors, roles, clock …) are its public interface
            continue
        package = f"{COMPONENTS}.{domain}"
        if imp.names and imp.target == f"{package}.{imp.names[0]}" and len(imp.names) == 1:
            message = f"imports submodule {imp.names[0]} of {package}"
        else:
            message = f"imports {imp.target}, a module inside {package}"
        violations.append(Violation(imp.path, imp.line, message))
    return sorted(violations)


# ---------------------------------------------------------------------------------------------------------- rule 5

WEB_LAYER = ("app.routes", "app.web", "app.templating", "app.asgi", "litestar", "jinja2", "jinja2_fragments")
LAYERS: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        (COMPONENTS, "app.db", "app.tables"),
        WEB_LAYER,
        "the domain and storage know nothing of HTTP or templates",
    ),
    (("app.db", "app.tables"), (COMPONENTS, "app.tasks"), "storage sits below the domain and the jobs"),
    ((CORE,), ("app.db", "app.tables"), "core is the shared basics: no storage"),
    (("app.tasks",), ("app.routes",), "jobs call components, not routes"),
)


def check_layering(root: Path) -> list[Violation]:
    """Rule 5: dependencies point one way (routes/tasks → components → tables/db; core → nothing of the app)."""
    project = load_project(root)
    violations = []
    for imp in project.imports:
        for sources, forbidden, why in LAYERS:
            if any(within(imp.importer, s) for s in sources):
                hit = next((f for f in forbidden if within(imp.target, f)), None)
                if hit:
                    violations.append(Violation(imp.path, imp.line, f"imports {imp.target} ({why})"))
        if (
            within(imp.importer, CORE)
            and within(imp.target, COMPONENTS)
            and domain_of(imp.target) not in (None, "core")
        ):
            violations.append(Violation(imp.path, imp.line, f"imports {imp.target} (core imports no other domain)"))
    return sorted(set(violations))


# ---------------------------------------------------------------------------------------------------------- rule 6


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _bindings(module: Module, project: Project, seen: frozenset[str] = frozenset()) -> tuple[set[str], list[str]]:
    """Names bound at the top of a module (star imports of app modules followed) and the star imports not followed."""
    names: set[str] = set()
    unresolved: list[str] = []
    for node, scope in _statements(module.tree.body, TOP):
        if scope == TYPE_CHECKING or scope.startswith(("in function", "in class")):
            continue  # nothing bound there is a module attribute at run time
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node.level, node.module)
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name)
                elif base in project.modules and base not in seen:
                    names.update(_exports(project.modules[base], project, seen | {module.name}))
                else:
                    unresolved.append(base or "?")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_target_names(target))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            names.update(_target_names(node.target))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.For | ast.AsyncFor):
            names.update(_target_names(node.target))
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    names.update(_target_names(item.optional_vars))
    return names, unresolved


def _dunder_all(module: Module) -> tuple[ast.stmt | None, list[ast.Constant] | None]:
    """The statement that sets `__all__` and its string elements (None if it is not a literal list of strings)."""
    for node in module.tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = node.value
            if isinstance(value, ast.List | ast.Tuple) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
            ):
                return node, list(value.elts)  # type: ignore[arg-type]
            return node, None
    return None, None


def _exports(module: Module, project: Project, seen: frozenset[str]) -> set[str]:
    _node, elements = _dunder_all(module)
    if elements is not None:
        return {e.value for e in elements}
    names, _unresolved = _bindings(module, project, seen)
    return {n for n in names if not n.startswith("_")}


def check_component_exports(root: Path) -> list[Violation]:
    """Rule 6: every package __init__.py below app/components defines a literal `__all__` of names it binds."""
    project = load_project(root)
    violations = []
    for module in project.modules.values():
        if not (module.is_package and module.name.startswith(COMPONENTS + ".")):
            continue
        node, elements = _dunder_all(module)
        if node is None:
            violations.append(Violation(module.path, 1, "defines no __all__"))
            continue
        if elements is None:
            violations.append(Violation(module.path, node.lineno, "__all__ is not a literal list of strings"))
            continue
        names, unresolved = _bindings(module, project)
        for element in elements:
            if element.value not in names:
                extra = f" (a star import from {', '.join(unresolved)} cannot be checked)" if unresolved else ""
                message = f"__all__ lists {element.value!r}, which the package does not define or import{extra}"
                violations.append(Violation(module.path, element.lineno, message))
    return sorted(violations)


def check_imports_use_public_names(root: Path) -> list[Violation]:
    """Rule 6b: a name imported from another domain's package is one its `__all__` lists."""
    project = load_project(root)
    violations = []
    for imp in project.imports:
        domain = domain_of(imp.target)
        package = project.modules.get(imp.target)
        if domain is None or package is None or not package.is_package or domain_of(imp.importer) == domain:
            continue
        if imp.target != f"{COMPONENTS}.{domain}":
            continue
        _node, elements = _dunder_all(package)
        if elements is None:
            continue  # rule 6 reports the package itself
        public = {e.value for e in elements}
        for name in imp.names:
            if name == domain and imp.target == f"{COMPONENTS}.{domain}" and name not in public:
                continue  # `from app.components import audit`: the package itself, not a name from it
            if name != "*" and name not in public:
                violations.append(
                    Violation(imp.path, imp.line, f"imports {name} from {imp.target}, not in its __all__")
                )
    return sorted(violations)


# ---------------------------------------------------------------------------------------------------------- rule 7

# Tables every domain may read to show a name beside its own rows (a store's name, a staff member's display name).
NAME_TABLES = frozenset({"store", "staff"})
# app/tables modules whose tables belong to a domain of another name.
TABLE_MODULE_DOMAIN = {"settings": "sales", "outbox": "events", "stores": "stores", "care_tasks": "care_tasks"}
_TABLENAME = re.compile(r"""tablename\s*=\s*["'](\w+)["']""")
_WRITES = re.compile(r"\b(?:INSERT\s+INTO|DELETE\s+FROM)\s+(\w+)|\bUPDATE\s+(\w+)\s+SET\b", re.IGNORECASE)
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)


def table_owners(root: Path) -> dict[str, str]:
    """Each table's owning domain: the app/tables module that declares it (`tablename=…`), by domain name."""
    owners = {}
    for path in sorted((root / PACKAGE / "tables").glob("*.py")):
        domain = TABLE_MODULE_DOMAIN.get(path.stem, path.stem)
        for table in _TABLENAME.findall(path.read_text(encoding="utf-8")):
            owners[table] = domain
    return owners


def table_sql(root: Path) -> Iterator[tuple[Module, int, str, str]]:
    """(module, line, table, "write" or "read") for every known table named in SQL outside app/tables and app/db."""
    owners = table_owners(root)
    project = load_project(root)
    for module in project.modules.values():
        if within(module.name, "app.tables") or within(module.name, "app.db"):
            continue
        for line, text in _literal_strings(module.tree):
            written = set()
            for match in _WRITES.finditer(text):
                table = (match.group(1) or match.group(2) or "").lower()
                if table in owners:
                    written.add(table)
                    yield module, line, table, "write"
            for match in _READS.finditer(text):
                table = match.group(1).lower()
                if table in owners and table not in written:
                    yield module, line, table, "read"


def check_table_sql_ownership(root: Path, allowed: Mapping[tuple[str, str], str]) -> list[Violation]:
    """Rule 7: a table's SQL is written in its own domain; another domain reads it only to join a name (store,
    staff) or where `allowed[(module path, table)]` gives the reason (a hot join, a bulk path); table `*` stands for
    every table a module names (demo data, a bulk path that writes several domains' rows in one chunk)."""
    owners = table_owners(root)
    violations = []
    used = set()
    for module, line, table, kind in table_sql(root):
        domain = domain_of(module.name)
        if domain == owners[table]:
            continue
        if kind == "read" and table in NAME_TABLES:
            continue
        key = (module.path, table) if (module.path, table) in allowed else (module.path, "*")
        if key in allowed:
            used.add(key)
            continue
        where = f"domain {domain}" if domain else module.name
        violations.append(Violation(module.path, line, f"{kind}s {table} ({owners[table]}'s table) from {where}"))
    for key, reason in allowed.items():
        if key not in used:
            violations.append(Violation(key[0], 0, f"allowlist entry for {key[1]} is not needed any more"))
        elif not reason.strip():
            violations.append(Violation(key[0], 0, f"allowlist entry for {key[1]} gives no reason"))
    return sorted(set(violations))
