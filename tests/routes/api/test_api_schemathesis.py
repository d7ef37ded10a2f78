"""Schemathesis against the app's own OpenAPI schema, over ASGI, on a seeded database: no check fails.

Every phase runs (examples, coverage of the schema's boundaries, fuzzing, stateful sequences along the links it
infers) with every check, a fixed seed and a bounded number of examples. The token is a store manager's (the
role that may do most through the API). Path parameters take seeded values: the demo members, a recorded sale,
an import job, so requests reach the code behind the 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import schemathesis
from schemathesis.engine import Status, events, from_schema

from app.components import catalog, members, sales, stock
from app.components.imports import member_import as imports
from app.web import create_app
from tests.conftest import actor, api_headers, grant_health_consent

SEED = 20261202
MAX_EXAMPLES = 12


class OnLoop:
    """The application run on `loop` (the test's, which owns the database pool) for a caller on another thread:
    Schemathesis drives ASGI apps from an event loop of its own."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.loop = app, loop

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan: the test session owns the database pool")  # before any message
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        sent: list[dict] = []
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._run(scope, body, sent), self.loop))
        for message in sent:
            await send(message)

    async def _run(self, scope: dict, body: bytes, sent: list[dict]) -> None:
        done = asyncio.Event()
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # a streaming response listens for the disconnect
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await self.app(scope, receive, send)


async def _seed() -> dict[str, str]:
    """The demo catalog and stock, the three demo members (8000000011 with a penicillin allergy, 8000000029, and
    8000000037 never asked), one sale and one import job."""
    await catalog.seed_demo_catalog()
    await stock.seed_demo_stock()
    pharmacist = await actor("manager")
    numbers = []
    for name, phone in (("张伟", "13812341234"), ("李娜", "13912345678"), ("王芳", "13712345678")):
        view = await members.register(members.NewMember(name=name, phone=phone), pharmacist)
        numbers.append(view.member_no)
    for number in numbers[:2]:
        await grant_health_consent(number)
    await members.add_allergy(
        numbers[0], members.NewAllergy(allergen_class="penicillins", criticality="high"), pharmacist
    )
    found = await catalog.search("维生素C")
    product = found[0]
    store_id = pharmacist.store_id
    assert store_id is not None
    sale = await sales.record_sale(
        sales.SaleRequest(
            idempotency_key="fuzz-seed",
            store_id=store_id,
            member_no=numbers[1],
            lines=[sales.LineRequest(code=product.sku, qty=1)],
            tenders=[sales.TenderRequest("cash", product.price)],
        ),
        pharmacist,
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield "name,phone\n赵六,13600001111\n".encode()

    job = await imports.submit(pharmacist, "seed.csv", chunks())
    codes = [code for p in (await catalog.search("片", limit=12)) for code in (p.sku, *p.gtins[:1])]
    return {
        "member_no": numbers[1],
        "members": numbers,
        "sale_no": sale.sale.sale_no,
        "job_id": job.job.key,
        "codes": codes,
    }


def _config(headers: dict[str, str], seeded: dict) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
            # Seeded values where a random one would only ever meet a 404 or an "unknown code" 422.
            "dictionaries": {"codes": {"values": seeded["codes"]}, "members": {"values": seeded["members"]}},
            "parameters": {
                "path.member_no": seeded["member_no"],
                "path.sale_no": seeded["sale_no"],
                "path.job_id": seeded["job_id"],
                "body.lines[*].code": {"dictionary": "codes", "probability": 0.9},
                "body.product": {"dictionary": "codes", "probability": 0.9},
                "body.member_no": {"dictionary": "members", "probability": 0.5},
                "body.store": "SH001",
            },
            "checks": {
                # A well-formed request may still break a rule that needs the database (stock, consent, an
                # unknown code): that is a 422 too. Schema-valid data must never be a 400 or a 5xx.
                "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]},
            },
        }
    )


def _failures(schema: Any) -> tuple[list[str], int]:
    """Every failed check (with its reproducing curl), error and skipped scenario of a run; and the number of
    responses seen."""
    failures: list[str] = []
    responses = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            responses += sum(1 for i in event.recorder.interactions.values() if i.response is not None)
            if event.status in (Status.FAILURE, Status.ERROR):
                failed = [c for checks in event.recorder.checks.values() for c in checks if c.status == Status.FAILURE]
                for check in failed:
                    info = check.failure_info
                    if info is not None:
                        failures.append(f"{event.label} [{check.name}] {info.failure.title}: {info.code_sample}")
                if not failed:
                    failures.append(f"{event.label}: {event.status} {event.skip_reason or ''}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return failures, responses


async def test_schemathesis_finds_no_failure_in_the_api() -> None:
    seeded = await _seed()
    manager = await api_headers("manager")
    admin = await api_headers("admin")  # the catalog is HQ's: its writes take an HQ administrator's token
    app = OnLoop(create_app(), asyncio.get_running_loop())

    def run() -> tuple[list[str], int]:
        store = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=_config(manager, seeded))
        failures, responses = _failures(store)
        hq = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=_config(admin, seeded))
        more, seen = _failures(hq.include(path="/api/v1/products", method="POST"))
        return failures + more, responses + seen

    failures, responses = await asyncio.to_thread(run)
    assert not failures, "\n\n".join(dict.fromkeys(failures))
    assert responses > 1000  # the run reached the application, not just the schema
