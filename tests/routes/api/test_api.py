"""JSON API v1: bearer tokens, member create/read/lookup, coded allergies, error shapes, audit."""

from __future__ import annotations

import pytest

from app.components.audit import log as audit
from app.db import fetch
from tests.conftest import api_headers, grant_health_consent


async def test_requests_without_a_valid_token_get_401(client) -> None:
    assert (await client.get("/api/v1/members/8000000011")).status_code == 401
    bad = await client.get("/api/v1/members/8000000011", headers={"Authorization": "Bearer ys_nope"})
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["message"]
    revoked = await client.get("/api/v1/members/8000000011", headers=await api_headers(revoked=True))
    assert revoked.status_code == 401


async def test_session_cookie_does_not_authenticate_the_api(client) -> None:
    from tests.conftest import login

    await login(client, "pharmacist")
    assert (await client.get("/api/v1/members/8000000011")).status_code == 401


async def test_create_read_and_find_a_member(client) -> None:
    headers = await api_headers()
    created = await client.post(
        "/api/v1/members",
        json={"name": "黄磊", "gender": "M", "birth_date": "1971-12-06", "phone": "+86 135 0000 1234"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    member_no = created.json()["member_no"]
    assert created.json()["phone"] == "135****1234"
    assert created.json()["home_store"] == "上海南京西路店"

    read = await client.get(f"/api/v1/members/{member_no}", headers=headers)
    assert read.status_code == 200
    body = read.json()
    assert body["allergy_status"] == "unknown" and body["allergies"] == []

    found = await client.get("/api/v1/members", params={"phone": "13500001234"}, headers=headers)
    assert [m["member_no"] for m in found.json()["members"]] == [member_no]
    nobody = await client.get("/api/v1/members", params={"phone": "13500009999"}, headers=headers)
    assert nobody.json()["members"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "甲", "phone": "555"}, "phone"),
        ({"name": "甲", "birth_date": "2999-01-01"}, "birth_date"),
        ({"name": "甲", "store": "NOPE"}, "store"),
        ({"name": 5}, "name"),
    ],
)
async def test_bad_member_input_is_422_with_field_errors(client, payload: dict, field: str) -> None:
    response = await client.post("/api/v1/members", json=payload, headers=await api_headers())
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["message"] for e in errors), errors


async def test_unknown_member_is_404_naming_it(client) -> None:
    response = await client.get("/api/v1/members/8000009995", headers=await api_headers())
    assert response.status_code == 404
    assert "8000009995" in response.json()["errors"][0]["message"]


async def test_coded_allergies_and_audited_reads(client) -> None:
    headers = await api_headers()
    member_no = (await client.post("/api/v1/members", json={"name": "林峰"}, headers=headers)).json()["member_no"]
    await grant_health_consent(member_no)
    added = await client.post(
        f"/api/v1/members/{member_no}/allergies",
        json={
            "allergen_class": "cephalosporins",
            "substance": "cefuroxime axetil",
            "criticality": "high",
            "reaction": "urticaria",
            "verification_status": "confirmed",
        },
        headers=headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["allergy_status"] == "has_allergies"
    unknown = await client.post(
        f"/api/v1/members/{member_no}/allergies", json={"allergen_class": "dragon_scale"}, headers=headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "allergen_class"
    missing = await client.post(
        "/api/v1/members/8000009995/allergies", json={"allergen_class": "penicillins"}, headers=headers
    )
    assert missing.status_code == 404

    before = await audit.count(audit.ALLERGY_VIEW)
    read = await client.get(f"/api/v1/members/{member_no}", headers=headers)
    assert read.json()["allergies"][0]["allergen_class"] == "cephalosporins"
    assert await audit.count(audit.ALLERGY_VIEW) == before + 1
    rows = await fetch("SELECT channel, username FROM audit_event WHERE action = 'allergy.view' ORDER BY id DESC")
    assert rows[0] == {"channel": "api", "username": "pharmacist"}


async def test_hq_token_must_name_a_store(client) -> None:
    headers = await api_headers("admin")
    response = await client.post("/api/v1/members", json={"name": "总部登记"}, headers=headers)
    assert response.status_code == 422
    ok = await client.post("/api/v1/members", json={"name": "总部登记", "store": "SH002"}, headers=headers)
    assert ok.status_code == 201 and ok.json()["home_store"] == "上海徐汇店"


async def test_openapi_schema_lists_the_member_api(client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/members/{member_no}" in schema["paths"]
