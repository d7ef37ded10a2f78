"""API input: bounded numbers and dates, readable answers to missing or malformed bodies, FHIR gender codes, the
counter's duplicate rules, consents through the API, and an OpenAPI schema that tells the truth."""

from __future__ import annotations

import re

import pytest

from app.db import fetch
from app.web import create_app
from tests.conftest import api_headers, grant_health_consent, login

BIG = 10**20


def _api_operations() -> list[tuple[str, str, object]]:
    """(method, concrete path, handler) of every API route of the app, OPTIONS aside."""
    found = []
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if route.path.startswith("/api/") and method != "OPTIONS":
                    path = re.sub(r"{\w+:\w+}", "8000000011", route.path)
                    found.append((method, path, handler))
    return found


def _takes_body(handler: object) -> bool:
    import inspect

    return "data" in inspect.signature(handler.fn).parameters  # type: ignore[attr-defined]


# ---------------------------------------------------------------- bodies


async def test_every_api_route_answers_a_missing_or_malformed_body_with_a_readable_4xx(client) -> None:
    manager, admin = await api_headers("manager"), await api_headers("admin")
    with_body = [(m, p) for m, p, h in _api_operations() if _takes_body(h)]
    assert len(with_body) >= 10
    for method, path in with_body:
        headers = admin if path == "/api/v1/products" else manager  # the catalog is HQ's
        missing = await client.request(method, path, headers=headers)
        assert 400 <= missing.status_code < 500, f"{method} {path}: {missing.status_code}"
        message = missing.json()["errors"][0]["message"]
        assert message != "'data'" and len(message) > 10, f"{method} {path}: {message!r}"
        if path.endswith("/import"):
            continue  # a multipart upload: no JSON to be malformed
        broken = await client.request(
            method, path, content=b'{"name": ', headers={**headers, "Content-Type": "application/json"}
        )
        assert broken.status_code == 400, f"{method} {path}: {broken.status_code} {broken.text}"
        assert "JSON" in broken.json()["errors"][0]["message"]
        listed = await client.request(method, path, json=[1, 2], headers=headers)
        assert listed.status_code == 422, f"{method} {path}: {listed.status_code}"
        assert listed.json()["errors"][0]["message"] != "'data'"


async def test_body_errors_name_the_field_in_the_requests_language(client) -> None:
    headers = await api_headers(**{"Accept-Language": "en"})
    response = await client.post("/api/v1/sales", json={"idempotency_key": "k"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "lines", "message": "This field is required."}]
    chinese = await client.post("/api/v1/sales", json={"idempotency_key": "k"}, headers=await api_headers())
    assert chinese.json()["errors"][0]["message"] != "This field is required."
    nested = await client.post(
        "/api/v1/sales",
        json={"idempotency_key": "k", "lines": [{"code": "YS90005", "qty": "two"}]},
        headers=headers,
    )
    assert nested.json()["errors"] == [{"field": "lines.0.qty", "message": "Expected a whole number, got text."}]


async def test_a_misspelt_field_is_refused_not_silently_defaulted(client) -> None:
    response = await client.post(
        "/api/v1/sales",
        json={"idempotency_key": "k", "lines": [{"code": "YS90005", "quantity": 3}]},
        headers=await api_headers(**{"Accept-Language": "en"}),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.quantity"


async def test_a_boolean_is_true_or_false_not_a_number(client) -> None:
    response = await client.post("/api/v1/members", json={"name": "甲", "confirm_new": 0}, headers=await api_headers())
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "confirm_new"
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 0


# ---------------------------------------------------------------- bounds


async def test_paging_and_limits_beyond_their_bounds_are_422_naming_the_parameter(client) -> None:
    headers = await api_headers()
    member_no = (await client.post("/api/v1/members", json={"name": "界"}, headers=headers)).json()["member_no"]
    for url, field in [
        (f"/api/v1/members/{member_no}/points?page={BIG}", "page"),
        (f"/api/v1/members/{member_no}/points?page=9223372036854775807", "page"),
        (f"/api/v1/members/{member_no}/points?page=0", "page"),
        (f"/api/v1/members/{member_no}/points?per_page={BIG}", "per_page"),
        (f"/api/v1/members/{member_no}/timeline?limit={BIG}", "limit"),
        (f"/api/v1/members/{member_no}/timeline?limit=-5", "limit"),
        (f"/api/v1/products?q=a&limit={BIG}", "limit"),
    ]:
        response = await client.get(url, headers=headers)
        assert response.status_code == 422, f"{url}: {response.status_code}"
        assert response.json()["errors"][0]["field"] == field, url
    assert (await client.get(f"/api/v1/members/{member_no}/points?page=2&per_page=10", headers=headers)).is_success


async def test_pages_with_a_page_or_an_id_beyond_bounds_are_422_not_500(client) -> None:
    token = await login(client, "admin")
    for url in ("/members", "/manager/audit", "/manager/catalog", "/manager/stock"):
        response = await client.get(url, params={"page": str(BIG)})
        assert response.status_code == 422, f"{url}: {response.status_code}"
    token = await login(client, "manager")
    for url in (f"/manager/stock/batches/{BIG}/count", f"/counter/cart/lines/{BIG}/qty"):
        response = await client.post(url, data={"qty": "2", "counted": "3"}, headers={"x-csrftoken": token})
        assert response.status_code == 422, f"{url}: {response.status_code}"


async def test_a_reading_dated_year_1_or_9999_is_422(client) -> None:
    headers = await api_headers()
    member_no = (await client.post("/api/v1/members", json={"name": "古"}, headers=headers)).json()["member_no"]
    await grant_health_consent(member_no)
    for when in ("0001-01-01T00:00", "0001-01-01", "9999-12-31T23:00-05:00"):
        response = await client.post(
            f"/api/v1/members/{member_no}/vitals",
            json={"kind": "bp", "systolic": 120, "diastolic": 80, "measured_at": when},
            headers=headers,
        )
        assert response.status_code == 422, f"{when}: {response.status_code}"
        assert response.json()["errors"][0]["field"] == "measured_at"


# ---------------------------------------------------------------- members


@pytest.mark.parametrize(("sent", "stored"), [("male", "M"), ("female", "F"), ("other", "U"), ("unknown", "U")])
async def test_gender_takes_fhir_codes(client, sent: str, stored: str) -> None:
    headers = await api_headers()
    created = await client.post("/api/v1/members", json={"name": "性别", "gender": sent}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["gender"] == stored
    member_no = created.json()["member_no"]
    patched = await client.patch(f"/api/v1/members/{member_no}", json={"gender": "female"}, headers=headers)
    assert patched.status_code == 200 and patched.json()["gender"] == "F"
    bad = await client.post("/api/v1/members", json={"name": "性别", "gender": "x"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "gender"


async def test_likely_duplicates_are_409_unless_the_caller_confirms_a_new_member(client) -> None:
    headers = await api_headers()
    first = await client.post(
        "/api/v1/members", json={"name": "周杰", "birth_date": "1980-05-01", "phone": "13500002222"}, headers=headers
    )
    assert first.status_code == 201
    same = {"name": "周杰伦", "birth_date": "1980-05-01", "phone": "135 0000 2222"}
    twice = await client.post("/api/v1/members", json=same, headers=headers)
    assert twice.status_code == 409, twice.text
    (duplicate,) = twice.json()["duplicates"]
    assert duplicate["member_no"] == first.json()["member_no"]
    assert duplicate["phone"] == "135****2222" and duplicate["name"] == "周杰"
    assert "phone" in duplicate["reasons"]
    assert first.json()["member_no"] in twice.json()["errors"][0]["message"]
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 1
    by_name = await client.post("/api/v1/members", json={"name": "周杰", "birth_date": "1980-05-01"}, headers=headers)
    assert by_name.status_code == 409 and by_name.json()["duplicates"][0]["reasons"] == ["name_birth"]
    family = await client.post("/api/v1/members", json={**same, "confirm_new": True}, headers=headers)
    assert family.status_code == 201 and family.json()["member_no"] != first.json()["member_no"]


async def test_a_member_registered_through_the_api_gets_consent_then_an_allergy(client) -> None:
    headers = await api_headers(**{"Accept-Language": "en"})
    member_no = (await client.post("/api/v1/members", json={"name": "接口"}, headers=headers)).json()["member_no"]
    allergy = {"allergen_class": "penicillins", "criticality": "high"}
    refused = await client.post(f"/api/v1/members/{member_no}/allergies", json=allergy, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "consent"

    before = (await client.get(f"/api/v1/members/{member_no}/consents", headers=headers)).json()
    health = next(c for c in before["consents"] if c["purpose"] == "health_data")
    assert health["granted"] is False and health["at"] is None and health["text"]
    granted = await client.post(
        f"/api/v1/members/{member_no}/consents", json={"purpose": "health_data", "granted": True}, headers=headers
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert (body["granted"], body["channel"], body["staff"], body["recorded"]) == (True, "api", "王药师", True)
    assert body["text_version"] == before["text_version"]
    again = await client.post(
        f"/api/v1/members/{member_no}/consents", json={"purpose": "health_data", "granted": True}, headers=headers
    )
    assert again.status_code == 200 and again.json()["recorded"] is False

    added = await client.post(f"/api/v1/members/{member_no}/allergies", json=allergy, headers=headers)
    assert added.status_code == 201 and added.json()["allergy_status"] == "has_allergies"
    after = (await client.get(f"/api/v1/members/{member_no}/consents", headers=headers)).json()
    assert [h["purpose"] for h in after["history"]] == ["health_data"]
    ledger = await fetch("SELECT channel, text_version FROM consent_event")
    assert ledger == [{"channel": "api", "text_version": before["text_version"]}]
    audited = await fetch("SELECT COUNT(*) AS n FROM audit_event WHERE action = 'consent.view'")
    assert audited[0]["n"] == 2

    old_text = await client.post(
        f"/api/v1/members/{member_no}/consents",
        json={"purpose": "marketing_sms", "granted": True, "text_version": "1999-01"},
        headers=headers,
    )
    assert old_text.status_code == 422 and old_text.json()["errors"][0]["field"] == "text_version"
    nobody = await client.get("/api/v1/members/8000009995/consents", headers=headers)
    assert nobody.status_code == 404 and "8000009995" in nobody.json()["errors"][0]["message"]


# ---------------------------------------------------------------- the schema


async def test_the_openapi_schema_documents_the_api_and_only_the_api(client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["paths"] and all(path.startswith("/api/v1/") for path in schema["paths"])
    components = schema["components"]["schemas"]
    assert components["ErrorBody"]["required"] == ["errors"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            answers = op["responses"]
            label = f"{method.upper()} {path}"
            assert "401" in answers, label
            for status in ("401", "403", "404", "409", "422", "400"):
                if status in answers:
                    ref = answers[status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in ("ErrorBody", "DuplicatesBody", "ConflictBody"), label
            if "{" in path:
                assert "404" in answers, label
            if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", [])):
                assert "422" in answers, label
            if (method, path) != ("get", "/api/v1/products"):  # every role may search the catalog
                assert "403" in answers, label
    for path in ("/api/v1/sales", "/api/v1/sales/{sale_no}/returns", "/api/v1/stock/receipts"):
        assert {"200", "201"} <= set(schema["paths"][path]["post"]["responses"]), path
    assert "409" in schema["paths"]["/api/v1/members"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/v1/sales"]["post"]["responses"]

    member = components["MemberIn"]
    assert member["required"] == ["name"] and member["additionalProperties"] is False
    assert set(member["properties"]["gender"]["enum"]) == {"M", "F", "U", "male", "female", "other", "unknown"}
    assert member["properties"]["birth_date"]["oneOf"][0] == {"type": "string", "format": "date"}
    assert "penicillins" in components["AllergyIn"]["properties"]["allergen_class"]["enum"]
    assert set(components["AllergyIn"]["properties"]["criticality"]["enum"]) == {"low", "high", "unable-to-assess"}
    assert "bank_card" in components["TenderIn"]["properties"]["kind"]["enum"]
    assert components["TenderIn"]["properties"]["amount"]["maximum"] == 100_000_000
    assert "health_data" in components["ConsentIn"]["properties"]["purpose"]["enum"]
    assert components["ConsentIn"]["required"] == ["granted", "purpose"]
    assert components["SaleLineIn"]["properties"]["qty"]["maximum"] == 9999
    assert components["SaleIn"]["required"] == ["idempotency_key", "lines"]
    timeline = schema["paths"]["/api/v1/members/{member_no}/timeline"]["get"]
    limit = next(p for p in timeline["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)


async def test_options_answers_every_method_of_an_api_path(client) -> None:
    allowed = (await client.options("/api/v1/members")).headers["allow"]
    assert set(allowed.split(", ")) == {"GET", "POST", "OPTIONS"}
