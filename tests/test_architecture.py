"""The shape of app/ (DESIGN.md "Shape"): its import graph, read with ast, obeys the layering and domain rules.

The first tests run each checker on the project's own app/; the rest build small synthetic trees that break (or keep)
one rule each, so every checker is shown to catch what it is for.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.architecture_rules import (
    Violation,
    check_component_exports,
    check_deferred_imports,
    check_domain_cycles,
    check_domains_reached_through_package,
    check_imports_use_public_names,
    check_layering,
    check_module_cycles,
    check_routes_do_no_storage_work,
    check_table_sql_ownership,
)

ROOT = Path(__file__).resolve().parent.parent

# Files that may import app modules inside functions, each with the reason. An entry point that must stay cheap to
# import (a CLI whose subcommands each need a different part of the app) is the kind of file that may earn a place.
DEFERRED_IMPORT_ALLOWLIST: dict[str, str] = {
    "app/cli.py": (
        "the command line is an entry point: each command imports what it runs, so `yaoshi web` execs uvicorn"
        " without loading the app first and `yaoshi worker` does not load the web routes"
    ),
}


def assert_holds(violations: list[Violation], rule: str, instead: str) -> None:
    """Fail with the rule, what to do instead, and every offending place (no traceback: the places are the news)."""
    if violations:
        places = "\n".join(str(v) for v in violations)
        pytest.fail(f"{rule}\nInstead: {instead}\n{len(violations)} violation(s):\n{places}", pytrace=False)


# ------------------------------------------------------------------------------------------------- the real app/


def test_no_import_cycle_between_modules() -> None:
    violations = check_module_cycles(ROOT)
    assert_holds(
        violations,
        "app modules import each other in a cycle (deferred imports count: they only hide the cycle).",
        "move what both sides need into a lower module (the domain's own module, or app/components/core), "
        "or let the later side react to a domain event instead of calling back.",
    )


def test_no_cycle_between_component_domains() -> None:
    violations = check_domain_cycles(ROOT)
    assert_holds(
        violations,
        "component domains depend on each other in a cycle.",
        "decide which domain is below the other; move the shared piece down (or into core), "
        "or turn the call back up into a domain event the upper domain handles.",
    )


def test_app_imports_only_at_module_top() -> None:
    violations = check_deferred_imports(ROOT, DEFERRED_IMPORT_ALLOWLIST)
    assert_holds(
        violations,
        "an app module is imported inside a function, class, or conditional block.",
        "import it at the top of the module (under `if TYPE_CHECKING:` if it is only for annotations); if that "
        "makes a cycle, fix the cycle. An entry point may be listed in DEFERRED_IMPORT_ALLOWLIST with its reason.",
    )


# SQL that names another domain's table, each place with its reason (rule 7). Reads that only join a store's or a
# staff member's name need no entry. `*`: every table the module names.
_HOT = "the counter's hot path: one round trip instead of one per domain (bench/README.md)"
SQL_OWNERSHIP_ALLOWLIST: dict[tuple[str, str], str] = {
    ("app/components/events/queries.py", "member"): "the failed-events list (at most 100 rows) names each event's"
    " member by number; events sit below members, which record them",
    # Domains below members keep their own columns on the member row, which the counter's lookup reads in one query.
    ("app/components/allergies/queries.py", "member"): "the allergy status (not asked / none / has) is kept on the"
    " member row, written with the allergy it follows from, for the lookup's one query",
    ("app/components/consents/queries.py", "member"): "the current consent flags are cached on the member row,"
    " written in the transaction that appends the consent event",
    ("app/components/health/queries.py", "member"): "health sits below members: it finds the member's id by number",
    ("app/components/coupons/queries.py", "member"): "issuing checks the member's home store and locks the member row"
    " so a per-member limit holds under concurrent issues",
    ("app/components/audit/queries.py", "member"): "the audit search shows the member's number and name beside events",
    ("app/components/members/queries/member.py", "allergy"): _HOT + ": the member view carries its allergies",
    ("app/components/members/queries/member.py", "consent_event"): _HOT + ": whether consents were ever asked",
    ("app/components/members/queries/member.py", "number_sequence"): "member numbers come from the shared named"
    " sequences (app/tables/stores.py)",
    ("app/components/catalog/queries.py", "number_sequence"): "the catalog's change token is a named sequence",
    ("app/components/members/queries/merge.py", "allergy"): "a merge compares both records' allergies side by side and"
    " keeps the union, in the merge's one transaction",
    ("app/components/sales/queries/sale.py", "member"): _HOT + "; the receipt and the sale list show the member",
    ("app/components/sales/queries/sale.py", "allergy"): _HOT + ": the quote reads the member's active allergies",
    ("app/components/sales/queries/sale.py", "member_loyalty"): _HOT
    + ": the quote reads the member's tier and balance",
    ("app/components/sales/queries/sale.py", "loyalty_setting"): _HOT + ": the quote reads the points rules",
    ("app/components/sales/queries/sale.py", "product"): "sale lines and medication history show product names",
    ("app/components/sales/queries/cart.py", "member"): _HOT + ": the open cart shows its member on every scan",
    ("app/components/sales/queries/purchases.py", "product"): "a member's purchases show product names",
    ("app/components/stock/queries.py", "product"): "stock lists show and filter by product code and name",
    ("app/components/messages/queries.py", "member"): "the sender reads the recipient's name, phone ciphertext and"
    " merge link of each due message; the manager's list shows the member's number",
    ("app/components/messages/queries.py", "chain_setting"): "the chain's message settings (weekly cap, attempts,"
    " store robots) are one row of the shared chain settings table, named messages",
    ("app/components/loyalty/queries.py", "sale"): "the tier review sums every member's rolling spend set-based",
    ("app/components/loyalty/queries.py", "sale_return"): "the rolling spend nets out returns, set-based",
    # Care: triggers are set-based candidate SELECTs over members and what they did (one INSERT … SELECT per chunk
    # of member ids, benchmarked by `make bench-care`); a per-member call into each domain would be the loop the
    # engine exists to avoid.
    ("app/components/care/triggers.py", "*"): "the trigger sweeps select candidates across members, their"
    " conditions, readings, sales and medication history in one statement per chunk (bench/care_bench.py)",
    ("app/components/care/queries.py", "member"): "a step locks its enrolment with the member's merge and consent"
    " flags in one statement, so an opt-out or a merge is seen in the step's own transaction",
    ("app/components/care/queries.py", "sale"): "step conditions and the hold-out comparison read purchases after"
    " the enrolment, set-based over a journey's enrolments",
    ("app/components/care/queries.py", "sale_line"): "a purchase journey's usage note names the product that"
    " matched its trigger",
    ("app/components/care/queries.py", "product"): "reminders name the member's own medicine",
    ("app/components/care/queries.py", "medication"): "a refill reminder names the member's last medicine of the"
    " group and is skipped when the group was refilled",
    ("app/components/care/queries.py", "message"): "per-step delivery counts join the step runs to the messages"
    " they queued, by key",
    ("app/components/adherence/queries.py", "medication"): "refill-due days and PDC are window functions over the"
    " medication history (one statement for a member, a store's page, or the refill trigger's chunk)",
    ("app/components/adherence/queries.py", "member"): "the non-adherent list shows each patient's number and name"
    " and leaves out merged-away records, in the list's one query",
    ("app/components/adherence/queries.py", "product"): "a therapy is shown by the medicine last bought in it",
    ("app/components/care_tasks/queries.py", "member"): "the queue shows each task's member number, name and"
    " masked phone in its one query",
    # Bulk paths: one statement per table per chunk, benchmarked by `make bench-import`; they write rows of several
    # domains exactly as the domains' own writes do, and are tested against them.
    ("app/components/imports/writing.py", "*"): "the member import writes a chunk of members, allergies,"
    " conditions, consents, timeline events and edit history in one transaction (bench/import_bench.py)",
    ("app/components/imports/matching.py", "*"): "the member import matches a chunk of rows against existing"
    " members (and their allergies and conditions) in a few set-based queries",
    ("app/components/imports/member_export.py", "*"): "the consented export pages through members with their"
    " allergies and conditions, 2,000 at a time",
    ("app/components/keys/rotation.py", "*"): "key rotation re-encrypts personal identifiers in chunks, resumably",
    (
        "app/components/seed/demo.py",
        "*",
    ): "demo data for `make run` and the bench, written directly; no request calls it",
    ("app/components/seed/sales_history.py", "*"): "a synthetic sales history (INSERT … SELECT) for the bench",
}


def test_each_tables_sql_lives_in_its_domain() -> None:
    violations = check_table_sql_ownership(ROOT, SQL_OWNERSHIP_ALLOWLIST)
    assert_holds(
        violations,
        "SQL names another domain's table (rule 7: one home for each table's SQL).",
        "call the owning domain's public function; a read that must stay (a hot join, a bulk path) goes into"
        " SQL_OWNERSHIP_ALLOWLIST with its reason.",
    )


def test_routes_do_no_storage_work() -> None:
    violations = check_routes_do_no_storage_work(ROOT)
    assert_holds(
        violations,
        "a route module touches storage (imports app.db/app.tables/piccolo/sqlite3/asyncpg, holds SQL, or opens a "
        "transaction).",
        "put the query and the transaction in a component function (app/components/<domain>/) and call that.",
    )


def test_domains_reach_each_other_through_their_package() -> None:
    violations = check_domains_reached_through_package(ROOT)
    assert_holds(
        violations,
        "a module reaches into another domain's module instead of its package.",
        "import the name from app.components.<domain> (add it to that package's __all__ if it is missing).",
    )


def test_layers_point_one_way() -> None:
    violations = check_layering(ROOT)
    assert_holds(
        violations,
        "an import points up the layers (routes/tasks → components → db/tables; core below every domain).",
        "move the code to the layer it belongs to, or pass what it needs in as a plain value from above.",
    )


def test_component_packages_define_all() -> None:
    violations = check_component_exports(ROOT)
    assert_holds(
        violations,
        "a package under app/components has no literal __all__, or lists a name it does not define.",
        "write `__all__ = [...]` listing exactly the names other domains may call, each imported or defined there.",
    )


def test_other_domains_import_only_public_names() -> None:
    violations = check_imports_use_public_names(ROOT)
    assert_holds(
        violations,
        "a name is imported from a domain package but is not in that package's __all__.",
        "add the name to the package's __all__ if other domains may call it, or call a public name instead.",
    )


# ----------------------------------------------------------------------------------------------- synthetic trees


def tree(root: Path, files: dict[str, str]) -> Path:
    """Write a fake project under root; every directory of app/ gets an __init__.py unless one is given."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for directory in [root / "app", *(p for p in (root / "app").rglob("*") if p.is_dir())]:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text('"""Package."""\n', encoding="utf-8")
    return root


def places(violations: list[Violation]) -> list[str]:
    return [f"{v.path}:{v.line}" for v in violations]


Checker = Callable[[Path], list[Violation]]


# Rule 1: cycles.


def test_cycle_of_two_modules_is_reported_with_its_path(tmp_path: Path) -> None:
    root = tree(tmp_path, {"app/a.py": "import app.b\n", "app/b.py": "from app import a\n"})
    [violation] = check_module_cycles(root)
    assert "app.a → app.b → app.a" in violation.message
    assert "app/a.py:1  app.a imports app.b" in violation.message
    assert "app/b.py:1  app.b imports app.a" in violation.message


def test_deferred_import_still_closes_a_cycle(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"app/a.py": "import app.b\n", "app/b.py": "def f():\n    from app.a import x\n    return x\n"},
    )
    [violation] = check_module_cycles(root)
    assert "app/b.py:2  app.b imports app.a  (in function f())" in violation.message


def test_importing_a_package_counts_as_importing_its_init(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/pkg/__init__.py": "from app.pkg.inner import x\n",
            "app/pkg/inner.py": "import app.other\nx = 1\n",
            "app/other.py": "import app.pkg\n",
        },
    )
    [violation] = check_module_cycles(root)
    assert "app.other → app.pkg → app.pkg.inner → app.other" in violation.message


def test_importing_a_submodule_implies_its_package_init(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/pkg/__init__.py": "import app.other\n",
            "app/pkg/leaf.py": "x = 1\n",
            "app/other.py": "from app.pkg.leaf import x\n",
        },
    )
    [violation] = check_module_cycles(root)
    assert "app.other → app.pkg → app.other" in violation.message


def test_from_package_import_submodule_counts_as_the_submodule(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"app/pkg/mod.py": "import app.b\n", "app/b.py": "from app.pkg import mod\n"},
    )
    [violation] = check_module_cycles(root)
    assert "app.b → app.pkg.mod → app.b" in violation.message


def test_every_knot_is_reported_once(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/a.py": "import app.b\n",
            "app/b.py": "import app.c\n",
            "app/c.py": "import app.a\nimport app.b\n",
            "app/x.py": "import app.y\n",
            "app/y.py": "import app.x\n",
        },
    )
    violations = check_module_cycles(root)
    assert places(violations) == ["app/a.py:1", "app/x.py:1"]
    assert "module cycle app.a → app.b → app.c → app.a" in violations[0].message
    assert "module cycle app.x → app.y → app.x" in violations[1].message


def test_a_knot_larger_than_its_shortest_cycle_names_all_its_modules(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"app/a.py": "import app.b\nimport app.c\n", "app/b.py": "import app.a\n", "app/c.py": "import app.a\n"},
    )
    [violation] = check_module_cycles(root)
    assert "module cycle app.a → app.b → app.a" in violation.message
    assert "knot of 3 modules: app.a, app.b, app.c" in violation.message


def test_no_module_cycle_in_a_clean_tree(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            # Siblings inside a package do not re-enter the package's __init__.
            "app/pkg/__init__.py": "from app.pkg.a import f\n",
            "app/pkg/a.py": "from app.pkg.b import g\nfrom . import c\n\ndef f():\n    return g()\n",
            "app/pkg/b.py": "def g():\n    return 1\n",
            "app/pkg/c.py": "",
            # A type-only import does not run.
            "app/x.py": "import app.y\n",
            "app/y.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.x import X\n",
            "app/z.py": "import app.pkg\nimport json\n",
        },
    )
    assert check_module_cycles(root) == []


def test_domain_cycle_is_reported_even_without_a_module_cycle(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/a/__init__.py": "from app.components.b import f\n",
            "app/components/b/__init__.py": "def f():\n    return 1\n",
            "app/components/b/helpers.py": "from app.components.a import f\n",
        },
    )
    assert check_module_cycles(root) == []
    [violation] = check_domain_cycles(root)
    assert "domain cycle a → b → a" in violation.message
    assert "app/components/b/helpers.py:1  b imports a" in violation.message


def test_no_domain_cycle_in_a_clean_tree(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/core/__init__.py": "X = 1\n",
            "app/components/a/__init__.py": "from app.components.b import f\nfrom app.components.core import X\n",
            "app/components/b/__init__.py": "from app.components.core import X\n\ndef f():\n    return X\n",
            "app/components/b/helpers.py": "from app.components.b import f\n",
        },
    )
    assert check_domain_cycles(root) == []


# Rule 2: imports at module top.


def test_deferred_app_imports_are_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/b.py": "x = 1\n",
            "app/a.py": """\
                import json
                from typing import TYPE_CHECKING

                import app.b

                if TYPE_CHECKING:
                    from app.b import x

                def f():
                    import json
                    from app.b import x
                    return x

                class C:
                    from app import b

                if json:
                    import app.b
                try:
                    from . import b
                except ImportError:
                    pass

                async def g():
                    import importlib
                    return importlib.import_module("app.b")
                """,
        },
    )
    violations = check_deferred_imports(root, {})
    assert [str(v) for v in violations] == [
        "app/a.py:11: imports app.b in function f()",
        "app/a.py:15: imports app.b in class C",
        "app/a.py:18: imports app.b under if",
        "app/a.py:20: imports app.b inside try",
        "app/a.py:26: imports app.b dynamic (import_module call)",
    ]


def test_allowlisted_entry_point_may_defer_and_stale_entries_are_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"app/cli.py": "def main():\n    import app.b\n", "app/b.py": "", "app/c.py": "import app.b\n"},
    )
    assert check_deferred_imports(root, {"app/cli.py": "each subcommand loads only its part"}) == []
    assert places(check_deferred_imports(root, {})) == ["app/cli.py:2"]
    stale = check_deferred_imports(root, {"app/cli.py": "ok", "app/c.py": "was lazy", "app/gone.py": "x"})
    assert places(stale) == ["app/c.py:0", "app/gone.py:0"]
    assert places(check_deferred_imports(root, {"app/cli.py": " "})) == ["app/cli.py:0"]


# Rule 3: routes do no storage work.


def test_storage_work_in_routes_is_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/db.py": "def transaction():\n    pass\n",
            "app/tables/member.py": "",
            "app/routes/counter.py": """\
                import sqlite3
                import asyncpg
                from piccolo.columns import Varchar
                from app.db import transaction
                from app import tables
                from app.tables.member import Member
                from ..db import fetch

                async def handler(engine, t):
                    a = "SELECT id, name\\n  FROM member"
                    b = f"update {t} set x = 1"
                    c = "Insert Into sale VALUES (1)"
                    d = "DELETE FROM cart"
                    async with transaction():
                        pass
                    async with engine.transaction():
                        pass
                """,
        },
    )
    assert [str(v) for v in check_routes_do_no_storage_work(root)] == [
        "app/routes/counter.py:1: imports sqlite3",
        "app/routes/counter.py:2: imports asyncpg",
        "app/routes/counter.py:3: imports piccolo.columns",
        "app/routes/counter.py:4: imports app.db",
        "app/routes/counter.py:5: imports app.tables",
        "app/routes/counter.py:6: imports app.tables.member",
        "app/routes/counter.py:7: imports app.db",
        "app/routes/counter.py:10: SQL in a string literal: 'SELECT id, name FROM'",
        "app/routes/counter.py:11: SQL in a string literal: 'update x set'",
        "app/routes/counter.py:12: SQL in a string literal: 'Insert Into'",
        "app/routes/counter.py:13: SQL in a string literal: 'DELETE FROM'",
        "app/routes/counter.py:14: calls transaction()",
        "app/routes/counter.py:16: calls transaction()",
    ]


def test_routes_without_storage_work_pass(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/db.py": "",
            "app/components/members/__init__.py": '"""Members."""\n__all__ = ["find"]\n\ndef find():\n    pass\n',
            # Components may hold SQL and transactions; routes may say "select" and "update" in prose.
            "app/components/members/queries.py": 'from app.db import transaction\nQ = "SELECT id FROM member"\n',
            "app/routes/members.py": '''\
                """Members: never SELECT ... FROM here."""
                from app.components import members

                def _(s):
                    return s

                async def page():
                    """Select the member from the query result."""
                    hint = _("Select a member from the list, then update the settings.")
                    label = "selected from"
                    return members.find(), hint, label, "Update settings"
                ''',
        },
    )
    assert check_routes_do_no_storage_work(root) == []


# Rule 4: domains through their package.


def test_reaching_into_another_domains_module_is_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/b/__init__.py": '__all__ = ["f"]\nfrom app.components.b.queries import f\n',
            "app/components/b/queries.py": "def f():\n    pass\n",
            "app/components/a/x.py": """\
                from app.components.b.queries import f
                from app.components.b import queries
                import app.components.b.queries
                from app.components.b import f
                import app.components.b
                """,
            "app/routes/r.py": "from app.components.b.queries import f\n",
            "app/tasks/t.py": "from app.components.b import queries as q\n",
        },
    )
    assert [str(v) for v in check_domains_reached_through_package(root)] == [
        "app/components/a/x.py:1: imports app.components.b.queries, a module inside app.components.b",
        "app/components/a/x.py:2: imports submodule queries of app.components.b",
        "app/components/a/x.py:3: imports app.components.b.queries, a module inside app.components.b",
        "app/routes/r.py:1: imports app.components.b.queries, a module inside app.components.b",
        "app/tasks/t.py:1: imports submodule queries of app.components.b",
    ]


def test_domain_modules_may_import_their_siblings(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/b/__init__.py": '__all__ = ["f"]\nfrom app.components.b.queries import f\n',
            "app/components/b/queries.py": "from .rules import g\n\ndef f():\n    return g()\n",
            "app/components/b/rules.py": "from app.components.b import sub\n\ndef g():\n    pass\n",
            "app/components/b/sub/__init__.py": "__all__ = []\nfrom app.components.b.sub.deep import h\n",
            "app/components/b/sub/deep.py": "def h():\n    pass\n",
            "app/components/a/__init__.py": "from app.components.b import f\nfrom app.components import b\n",
            "app/routes/r.py": "from app.components.b import f\n",
        },
    )
    assert check_domains_reached_through_package(root) == []


# Rule 5: layering.


def test_imports_against_the_layers_are_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/web.py": "",
            "app/routes/r.py": "",
            "app/tasks/jobs.py": "from app.routes import r\n",
            "app/db/__init__.py": "from app.components.members import find\n",
            "app/tables/t.py": "import app.tasks.jobs\n",
            "app/components/members/__init__.py": """\
                from litestar import get
                import jinja2
                from app.web import create_app
                from app.routes.r import x
                """,
            "app/components/core/clock.py": """\
                from app.components.members import find
                from app.components import members
                from app.db import fetch
                from app.tables.t import T
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from app.templating import render
                """,
        },
    )
    assert [str(v) for v in check_layering(root)] == [
        "app/components/core/clock.py:1: imports app.components.members (core imports no other domain)",
        "app/components/core/clock.py:2: imports app.components.members (core imports no other domain)",
        "app/components/core/clock.py:3: imports app.db (core is the shared basics: no storage)",
        "app/components/core/clock.py:4: imports app.tables.t (core is the shared basics: no storage)",
        "app/components/core/clock.py:7: imports app.templating (the domain and storage know nothing of HTTP or "
        "templates)",
        "app/components/members/__init__.py:1: imports litestar (the domain and storage know nothing of HTTP or "
        "templates)",
        "app/components/members/__init__.py:2: imports jinja2 (the domain and storage know nothing of HTTP or "
        "templates)",
        "app/components/members/__init__.py:3: imports app.web (the domain and storage know nothing of HTTP or "
        "templates)",
        "app/components/members/__init__.py:4: imports app.routes.r (the domain and storage know nothing of HTTP "
        "or templates)",
        "app/db/__init__.py:1: imports app.components.members (storage sits below the domain and the jobs)",
        "app/tables/t.py:1: imports app.tasks.jobs (storage sits below the domain and the jobs)",
        "app/tasks/jobs.py:1: imports app.routes.r (jobs call components, not routes)",
    ]


def test_imports_along_the_layers_pass(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/settings.py": "",
            "app/db/__init__.py": "import sqlite3\nfrom app.settings import x\n",
            "app/tables/t.py": "from piccolo.table import Table\nfrom app.db import engine\n",
            "app/components/core/__init__.py": "from app.components.core.clock import now\n",
            "app/components/core/clock.py": "import datetime\nfrom app.settings import x\n",
            "app/components/members/__init__.py": "from app.components.core import now\nfrom app.tables.t import T\n",
            "app/tasks/jobs.py": "from app.components import members\n",
            "app/routes/r.py": "from litestar import get\nfrom app.components import members\n",
            "app/web.py": "from app.routes import r\nimport jinja2\n",
        },
    )
    assert check_layering(root) == []


# Rule 6: __all__ of component packages.


def test_component_packages_without_a_sound_all_are_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/__init__.py": '"""The domains; this container needs no __all__."""\n',
            "app/components/a/__init__.py": "def f():\n    pass\n",
            "app/components/b/__init__.py": """\
                from typing import TYPE_CHECKING
                from app.components.b.q import f
                if TYPE_CHECKING:
                    from app.components.b.q import Row

                def g():
                    h = 1
                    return h

                __all__ = [
                    "f",
                    "g",
                    "h",
                    "Row",
                    "q",
                ]
                """,
            "app/components/b/q.py": "def f():\n    pass\nclass Row:\n    pass\n",
            "app/components/c/__init__.py": "from app.components.c import q\n__all__ = [*q.__all__]\n",
            "app/components/c/q.py": "__all__ = []\n",
            "app/components/d/__init__.py": '__all__ = ["f"]\n',
            "app/components/d/sub/__init__.py": "",
        },
    )
    assert [str(v) for v in check_component_exports(root)] == [
        "app/components/a/__init__.py:1: defines no __all__",
        "app/components/b/__init__.py:13: __all__ lists 'h', which the package does not define or import",
        "app/components/b/__init__.py:14: __all__ lists 'Row', which the package does not define or import",
        "app/components/b/__init__.py:15: __all__ lists 'q', which the package does not define or import",
        "app/components/c/__init__.py:2: __all__ is not a literal list of strings",
        "app/components/d/__init__.py:1: __all__ lists 'f', which the package does not define or import",
        "app/components/d/sub/__init__.py:1: defines no __all__",
    ]


def test_component_packages_with_a_sound_all_pass(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/a/__init__.py": """\
                \"\"\"Domain a.\"\"\"
                from app.components.a.rules import *
                from app.components.a.q import f as find, Row
                import app.components.a.q
                LIMIT: int = 3
                X, (Y, *Z) = 1, (2, 3)
                try:
                    from app.components.a.fast import speedy
                except ImportError:
                    speedy = None

                async def g():
                    pass

                class H:
                    pass

                __all__ = ("find", "Row", "LIMIT", "X", "Y", "Z", "speedy", "g", "H", "rule", "app")
                """,
            "app/components/a/q.py": "def f():\n    pass\nclass Row:\n    pass\n",
            "app/components/a/rules.py": "def rule():\n    pass\ndef _hidden():\n    pass\n",
            "app/components/a/fast.py": "speedy = 1\n",
            "app/components/a/sub/__init__.py": "__all__: list[str] = []\n",
        },
    )
    assert check_component_exports(root) == []


def test_names_imported_from_a_domain_must_be_public(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/a/__init__.py": '__all__ = ["shown"]\nshown = hidden = 1\n',
            "app/components/b/__init__.py": "from app.components.a import shown, hidden\n__all__ = []\n",
            "app/routes/r.py": "from app.components.a import hidden as h\nfrom app.components.a import *\n",
            # Inside a itself every name is fair.
            "app/components/a/x.py": "from app.components.a import hidden\n",
        },
    )
    assert [str(v) for v in check_imports_use_public_names(root)] == [
        "app/components/b/__init__.py:1: imports hidden from app.components.a, not in its __all__",
        "app/routes/r.py:1: imports hidden from app.components.a, not in its __all__",
    ]


@pytest.mark.parametrize(
    "checker",
    [
        check_module_cycles,
        check_domain_cycles,
        check_routes_do_no_storage_work,
        check_domains_reached_through_package,
        check_layering,
        check_component_exports,
        check_imports_use_public_names,
    ],
)
def test_checkers_pass_a_minimal_clean_tree(tmp_path: Path, checker: Checker) -> None:
    root = tree(
        tmp_path,
        {
            "app/components/core/__init__.py": '__all__ = ["now"]\nfrom app.components.core.clock import now\n',
            "app/components/core/clock.py": "def now():\n    pass\n",
            "app/components/members/__init__.py": '__all__ = ["find"]\nfrom app.components.members.q import find\n',
            "app/components/members/q.py": "from app.components.core import now\nfrom app.db import fetch\n"
            "def find():\n    return now()\n",
            "app/db/__init__.py": "def fetch():\n    pass\n",
            "app/routes/members.py": "from app.components.members import find\n",
            "app/tasks/jobs.py": "from app.components.members import find\n",
            "app/web.py": "from app.routes import members\n",
        },
    )
    assert checker(root) == []
    assert check_deferred_imports(root, {}) == []


# Rule 7: one home for each table's SQL.

_TABLES = {
    "app/tables/members.py": 'class Member(Table, tablename="member"):\n    pass\n',
    "app/tables/sales.py": 'class Sale(Table, tablename="sale"):\n    pass\n',
    "app/tables/stores.py": 'class Store(Table, tablename="store"):\n    pass\n',
}


def test_a_domain_writing_another_domains_table_is_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            **_TABLES,
            "app/components/sales/record.py": 'SQL = "UPDATE member SET points = 1 WHERE id = {}"\n',
            "app/components/members/queries.py": 'SQL = "UPDATE member SET name = {} WHERE id = {}"\n',
        },
    )
    assert [str(v) for v in check_table_sql_ownership(root, {})] == [
        "app/components/sales/record.py:1: writes member (members's table) from domain sales"
    ]


def test_reads_of_another_domains_table_need_a_reason_but_names_do_not(tmp_path: Path) -> None:
    files = {
        **_TABLES,
        "app/components/sales/quote.py": (
            'SQL = "SELECT s.id, st.name FROM sale s JOIN store st ON st.id = s.store"\n'
            'MORE = "SELECT m.id FROM member m WHERE m.id = {}"\n'
        ),
    }
    root = tree(tmp_path, files)
    assert places(check_table_sql_ownership(root, {})) == ["app/components/sales/quote.py:2"]
    allowed = {("app/components/sales/quote.py", "member"): "the quote reads the member's allergies in its one query"}
    assert check_table_sql_ownership(root, allowed) == []
    stale = {**allowed, ("app/components/sales/quote.py", "sale"): "own table"}
    assert [v.message for v in check_table_sql_ownership(root, stale)] == [
        "allowlist entry for sale is not needed any more"
    ]
