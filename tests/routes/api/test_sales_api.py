"""JSON API v1 for sales: 201 / 200 replay / 409 allergy conflict / 422 / 403 / 404, and returns."""

from __future__ import annotations

import asyncio

import pytest

from app.db import fetch
from tests.components.sales.sale_data import (
    PRICE,
    TRACE_PREFIX,
    count,
    gtin,
    make_member,
    make_products,
    on_hand,
    stock_in,
)
from tests.conftest import api_headers


@pytest.fixture
async def stocked() -> None:
    await make_products()
    for sku in ("YS90002", "YS90004", "YS90005", "YS90007"):
        await stock_in(sku, 20, "B1")


def _sale(key: str = "pos-1", member_no: str | None = None, **extra: object) -> dict:
    body: dict = {
        "idempotency_key": key,
        "store": "SH001",
        "lines": [{"code": gtin("YS90007"), "qty": 2}, {"code": "YS90005", "qty": 1}],
        "tenders": [{"kind": "cash", "amount": 5000}],
    }
    if member_no:
        body["member_no"] = member_no
    body.update(extra)
    return body


async def test_a_sale_is_created_once_and_replayed_with_the_same_body(client, stocked) -> None:
    member_no = await make_member(status="none")
    headers = await api_headers("clerk")
    created = await client.post("/api/v1/sales", json=_sale(member_no=member_no), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sale_no"] == "SSH00100000001"
    assert body["totals"]["total"] == 2 * 990 + 3000
    assert body["totals"]["change"] == 5000 - 4980
    assert body["points_earned"] > 0 and body["member_no"] == member_no
    assert body["warnings"] == []
    again = await client.post("/api/v1/sales", json=_sale(member_no=member_no), headers=headers)
    assert again.status_code == 200 and again.json() == body
    assert await count("sale") == 1 and await on_hand("YS90007") == 18
    read = await client.get(f"/api/v1/sales/{body['sale_no']}", headers=headers)
    assert read.status_code == 200 and read.json()["lines"][0]["qty"] == 2


async def test_concurrent_posts_of_one_key_make_one_sale(client, stocked) -> None:
    headers = await api_headers("clerk")
    responses = await asyncio.gather(*(client.post("/api/v1/sales", json=_sale(), headers=headers) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["sale_no"] for r in responses}) == 1
    assert await count("sale") == 1 and await on_hand("YS90005") == 19


async def test_a_high_allergy_conflict_is_409_until_a_pharmacist_overrides(client, stocked) -> None:
    member_no = await make_member(allergies=("nsaids",))
    body = _sale("pos-2", member_no, lines=[{"code": "YS90004", "qty": 1}], tenders=[{"kind": "cash", "amount": 1500}])
    conflict = await client.post("/api/v1/sales", json=body, headers=await api_headers("clerk"))
    assert conflict.status_code == 409
    assert conflict.json()["conflicts"][0]["sku"] == "YS90004"
    assert conflict.json()["conflicts"][0]["level"] == "high"
    by_clerk = await client.post(
        "/api/v1/sales", json={**body, "allergy_override": {"reason": "tolerated"}}, headers=await api_headers("clerk")
    )
    assert by_clerk.status_code == 422 and by_clerk.json()["errors"][0]["field"] == "allergy_override"
    ok = await client.post(
        "/api/v1/sales",
        json={**body, "allergy_override": {"reason": "low-dose aspirin taken for years"}},
        headers=await api_headers("pharmacist"),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["allergy_override"]["reason"] == "low-dose aspirin taken for years"
    assert await count("audit_event WHERE action = 'sale.allergy_override'") == 1


async def test_rx_through_the_api_is_verified_by_the_pharmacist_token(client, stocked) -> None:
    body = _sale("pos-rx", lines=[{"code": "YS90002", "qty": 1}], tenders=[{"kind": "wechat", "amount": 2200}])
    missing = await client.post("/api/v1/sales", json=body, headers=await api_headers("pharmacist"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "prescription"
    rx = {**body, "prescription": {"number": "RX-77", "hospital": "仁济医院"}}
    by_clerk = await client.post("/api/v1/sales", json=rx, headers=await api_headers("clerk"))
    assert by_clerk.status_code == 422
    ok = await client.post("/api/v1/sales", json=rx, headers=await api_headers("pharmacist"))
    assert ok.status_code == 201 and ok.json()["prescription"] == {"number": "RX-77", "hospital": "仁济医院"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [{"code": "6900000000000", "qty": 1}]}, "lines.0.code"),
        ({"lines": [{"code": "YS90005", "qty": 99}]}, "qty"),
        ({"tenders": [{"kind": "cash", "amount": 100}]}, "tenders"),
        ({"tenders": [{"kind": "cheque", "amount": 5000}]}, "tenders.0.kind"),
        ({"member_no": "80000000"}, "member_no"),
        ({"store": "XX999"}, "store"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
async def test_bad_input_is_422_naming_the_field(client, stocked, change: dict, field: str) -> None:
    response = await client.post("/api/v1/sales", json={**_sale(), **change}, headers=await api_headers("clerk"))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await count("sale") == 0


async def test_a_malformed_body_is_422_not_500(client, stocked) -> None:
    response = await client.post(
        "/api/v1/sales", json={**_sale(), "lines": [{"code": "YS90005", "qty": "many"}]}, headers=await api_headers()
    )
    assert response.status_code in (400, 422)


async def test_a_store_token_sells_only_in_its_store_and_reads_only_its_sales(client, stocked) -> None:
    other = await client.post("/api/v1/sales", json={**_sale(), "store": "SH002"}, headers=await api_headers("clerk"))
    assert other.status_code == 403
    created = await client.post("/api/v1/sales", json=_sale(), headers=await api_headers("clerk"))
    sale_no = created.json()["sale_no"]
    assert (await client.get(f"/api/v1/sales/{sale_no}", headers=await api_headers("pharmacist2"))).status_code == 404
    assert (await client.get(f"/api/v1/sales/{sale_no}", headers=await api_headers("admin"))).status_code == 200
    missing = await client.get("/api/v1/sales/SNOPE", headers=await api_headers("clerk"))
    assert missing.status_code == 404 and "SNOPE" in missing.json()["errors"][0]["message"]
    assert (await client.post("/api/v1/sales", json=_sale(), headers=await api_headers("service"))).status_code == 403


async def test_returns_201_then_200_replay_422_and_404(client, stocked) -> None:
    member_no = await make_member(status="none")
    created = await client.post("/api/v1/sales", json=_sale(member_no=member_no), headers=await api_headers("clerk"))
    sale_no = created.json()["sale_no"]
    headers = await api_headers("pharmacist")
    url = f"/api/v1/sales/{sale_no}/returns"
    first = await client.post(
        url,
        json={"idempotency_key": "ret-1", "reason": "damaged", "lines": [{"line_no": 1, "qty": 1}]},
        headers=headers,
    )
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == 990 and first.json()["sale"]["status"] == "part_returned"
    replay = await client.post(
        url,
        json={"idempotency_key": "ret-1", "reason": "damaged", "lines": [{"line_no": 1, "qty": 1}]},
        headers=headers,
    )
    assert replay.status_code == 200 and replay.json()["return_no"] == first.json()["return_no"]
    over = await client.post(
        url, json={"idempotency_key": "ret-2", "reason": "x", "lines": [{"line_no": 1, "qty": 5}]}, headers=headers
    )
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "lines.1"
    no_reason = await client.post(url, json={"idempotency_key": "ret-3", "reason": ""}, headers=headers)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    rest = await client.post(url, json={"idempotency_key": "ret-4", "reason": "all back"}, headers=headers)
    assert rest.status_code == 201 and rest.json()["sale"]["status"] == "returned"
    assert first.json()["amount"] + rest.json()["amount"] == created.json()["totals"]["total"]
    assert (
        await client.post(url, json={"idempotency_key": "k", "reason": "x"}, headers=await api_headers("clerk"))
    ).status_code == 403
    missing = await client.post(
        "/api/v1/sales/SNOPE/returns", json={"idempotency_key": "k", "reason": "x"}, headers=headers
    )
    assert missing.status_code == 404
    assert (await fetch("SELECT COUNT(*) AS n FROM sale_return"))[0]["n"] == 2


async def test_cash_far_beyond_the_total_is_422_and_one_banknote_more_is_change(client, stocked) -> None:
    headers = await api_headers("clerk")
    total = PRICE["YS90005"]  # ¥30.00; the cap is 10 × the total (the default multiple)
    over = _sale("cash-1", lines=[{"code": "YS90005", "qty": 1}], tenders=[{"kind": "cash", "amount": 10 * total + 1}])
    response = await client.post("/api/v1/sales", json=over, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "tenders.0.amount"
    assert "300.00" in response.json()["errors"][0]["message"]
    assert await count("sale") == 0
    at_cap = {**over, "idempotency_key": "cash-2", "tenders": [{"kind": "cash", "amount": 10 * total}]}
    ok = await client.post("/api/v1/sales", json=at_cap, headers=headers)
    assert ok.status_code == 201 and ok.json()["totals"]["change"] == 9 * total
    # A small total may always be paid with one ¥100 note.
    small = _sale("cash-3", lines=[{"code": "YS90007", "qty": 1}], tenders=[{"kind": "cash", "amount": 10000}])
    paid = await client.post("/api/v1/sales", json=small, headers=headers)
    assert paid.status_code == 201 and paid.json()["totals"]["change"] == 10000 - PRICE["YS90007"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tenders": [{"kind": "cash", "amount": 10**20}]}, "tenders.0.amount"),
        ({"tenders": [{"kind": "cash", "amount": 2**62}]}, "tenders.0.amount"),
        ({"tenders": [{"kind": "cash", "amount": 0}]}, "tenders.0.amount"),
        ({"lines": [{"code": "YS90005", "qty": 10**20}]}, "lines.0.qty"),
        ({"lines": [{"code": "YS90005", "qty": 0}]}, "lines.0.qty"),
        ({"lines": []}, "lines"),
    ],
)
async def test_money_and_quantities_beyond_bounds_are_422_not_500(client, stocked, change: dict, field: str) -> None:
    response = await client.post("/api/v1/sales", json={**_sale(), **change}, headers=await api_headers("clerk"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await count("sale") == 0


async def test_a_return_line_beyond_bounds_is_422(client, stocked) -> None:
    created = await client.post("/api/v1/sales", json=_sale(), headers=await api_headers("clerk"))
    response = await client.post(
        f"/api/v1/sales/{created.json()['sale_no']}/returns",
        json={"idempotency_key": "r", "reason": "x", "lines": [{"line_no": 10**20, "qty": 10**20}]},
        headers=await api_headers("pharmacist"),
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "lines.0.line_no"


async def test_a_traceability_code_of_another_product_is_422_and_its_own_unit_still_sells(client, stocked) -> None:
    code = TRACE_PREFIX + "0000000000042"  # a unit of YS90007 (vitamin C)
    headers = await api_headers("clerk")
    wrong = _sale(
        "trace-1",
        lines=[{"code": "YS90005", "qty": 1, "trace_codes": [code]}],
        tenders=[{"kind": "cash", "amount": 5000}],
    )
    refused = await client.post("/api/v1/sales", json=wrong, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "lines.0.trace_codes"
    assert code in refused.json()["errors"][0]["message"]
    assert await count("sale_trace_code") == 0
    # The unit that really carries the code is sold, scanned by its code or named with it.
    own = _sale("trace-2", lines=[{"code": code, "qty": 1}], tenders=[{"kind": "cash", "amount": 1000}])
    sold = await client.post("/api/v1/sales", json=own, headers=headers)
    assert sold.status_code == 201, sold.text
    assert (await fetch("SELECT code FROM sale_trace_code")) == [{"code": code}]
