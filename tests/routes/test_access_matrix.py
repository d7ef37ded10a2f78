"""Every registered route × every role (and anonymous) against one declared access matrix.

A new route without a line here fails `test_every_route_is_in_the_matrix`, so nobody ships an unguarded page.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar

from app.components import members
from app.components.auth import new_api_token
from app.db import fetch
from app.routes.guards import allowed_roles
from app.web import create_app
from tests.conftest import actor, csrf_token, grant_health_consent, login

PUBLIC = "public"
COUNTER = {"pharmacist", "clerk", "service", "store_manager"}
MEMBER_WRITE = {"pharmacist", "clerk", "service", "store_manager", "hq_admin"}
MANAGER = {"store_manager", "hq_admin", "hq_analyst"}
AUDIT = {"hq_admin"}
STOCK = {"store_manager", "hq_admin"}
SALE = {"pharmacist", "clerk", "store_manager"}
CATALOG_WRITE = {"hq_admin"}
CATALOG_READ = {"hq_admin", "hq_analyst", "store_manager"}
COUPON_ISSUE = {"hq_admin", "store_manager"}
PHARMACISTS = {"pharmacist", "store_manager"}
USERS = {
    "pharmacist": "pharmacist",
    "clerk": "clerk",
    "service": "service",
    "store_manager": "manager",
    "hq_admin": "admin",
    "hq_analyst": "analyst",
}

MATRIX: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/noop"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("POST", "/language"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/kiosk"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("HEAD", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/swagger"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/oauth2-redirect.html"): PUBLIC,
    ("GET", "/schema/{path:str}"): PUBLIC,
    ("GET", "/counter"): COUNTER,
    ("POST", "/counter/lookup"): COUNTER,
    ("GET", "/counter/members/{member_no:str}"): COUNTER,
    ("POST", "/counter/members/{member_no:str}/allergies"): COUNTER,
    ("POST", "/counter/members/{member_no:str}/no-known-allergies"): COUNTER,
    ("POST", "/counter/members/{member_no:str}/consent-health"): COUNTER,
    ("GET", "/counter/cart"): SALE,
    ("GET", "/counter/products/search"): SALE,
    ("POST", "/counter/cart/lines"): SALE,
    ("POST", "/counter/cart/lines/{product_id:int}/qty"): SALE,
    ("POST", "/counter/cart/lines/{product_id:int}/remove"): SALE,
    ("POST", "/counter/cart/lines/{product_id:int}/discount"): PHARMACISTS,
    ("POST", "/counter/cart/member/remove"): SALE,
    ("POST", "/counter/cart/switch"): SALE,
    ("POST", "/counter/cart/park"): SALE,
    ("POST", "/counter/cart/tender"): SALE,
    ("GET", "/counter/held"): SALE,
    ("POST", "/counter/held/{cart_id:int}/resume"): SALE,
    ("GET", "/counter/device"): COUNTER,
    ("POST", "/counter/device"): COUNTER,
    ("GET", "/manager/devices"): {"store_manager"},
    ("POST", "/manager/devices/{device_id:int}/revoke"): {"store_manager"},
    ("POST", "/counter/cart/coupons"): SALE,
    ("POST", "/counter/cart/coupons/remove"): SALE,
    ("POST", "/counter/cart/prescription"): SALE,
    ("POST", "/counter/cart/prescription/verify"): SALE,
    ("POST", "/counter/cart/approve"): SALE,
    ("POST", "/counter/cart/lines/{product_id:int}/acknowledge"): SALE,
    ("GET", "/counter/rx/{name:str}"): SALE,
    ("POST", "/counter/cart/override"): SALE,
    ("POST", "/counter/cart/oversell"): SALE,
    ("POST", "/counter/cart/override/remove"): SALE,
    ("POST", "/counter/cart/clear"): SALE,
    ("GET", "/counter/checkout"): SALE,
    ("POST", "/counter/checkout"): SALE,
    ("GET", "/counter/sales"): SALE,
    ("GET", "/counter/sales/{sale_no:str}"): SALE,
    ("GET", "/counter/sales/{sale_no:str}/receipt"): SALE,
    ("GET", "/counter/sales/{sale_no:str}/guidance"): SALE,
    ("POST", "/counter/sales/{sale_no:str}/returns"): PHARMACISTS,
    ("GET", "/counter/sales/{sale_no:str}/returns/{return_no:str}/slip"): SALE,
    ("GET", "/counter/members/{member_no:str}/allergy-form"): COUNTER,
    ("GET", "/counter/register"): COUNTER,
    ("POST", "/counter/register"): COUNTER,
    ("GET", "/counter/register/{member_no:str}/health"): COUNTER,
    ("POST", "/counter/register/{member_no:str}/health"): COUNTER,
    ("GET", "/counter/register/{member_no:str}/preferences"): COUNTER,
    ("POST", "/counter/register/{member_no:str}/preferences"): COUNTER,
    ("GET", "/members/{member_no:str}/details"): COUNTER,
    ("GET", "/members/{member_no:str}/details/edit"): COUNTER,
    ("POST", "/members/{member_no:str}/details"): COUNTER,
    ("POST", "/members/{member_no:str}/verify"): COUNTER,
    ("GET", "/members/{member_no:str}/card"): COUNTER,
    ("GET", "/members/{member_no:str}"): COUNTER,
    ("GET", "/members/{member_no:str}/timeline"): COUNTER,
    ("GET", "/members/{member_no:str}/purchases"): COUNTER,
    ("GET", "/members/{member_no:str}/points"): COUNTER,
    ("POST", "/members/{member_no:str}/points/gifts"): SALE,
    ("GET", "/members"): COUNTER | MANAGER,
    ("GET", "/members/{member_no:str}/consents"): COUNTER,
    ("POST", "/members/{member_no:str}/consents"): COUNTER,
    ("GET", "/members/{member_no:str}/household"): COUNTER,
    ("POST", "/members/{member_no:str}/household"): COUNTER,
    ("POST", "/members/{member_no:str}/household/link"): COUNTER,
    ("POST", "/members/{member_no:str}/household/contact"): COUNTER,
    ("POST", "/members/{member_no:str}/household/guardian"): COUNTER,
    ("POST", "/members/{member_no:str}/household/unlink"): COUNTER,
    ("GET", "/members/{member_no:str}/merge"): COUNTER,
    ("GET", "/members/{member_no:str}/merge/compare"): {"pharmacist", "store_manager"},
    ("POST", "/members/{member_no:str}/merge"): {"pharmacist", "store_manager"},
    ("POST", "/members/{member_no:str}/merges/{merge_id:int}/undo"): {"pharmacist", "store_manager"},
    ("GET", "/members/import"): MEMBER_WRITE,
    ("POST", "/members/import"): MEMBER_WRITE,
    ("GET", "/members/import/template"): MEMBER_WRITE,
    ("GET", "/members/import/{job_key:str}"): MEMBER_WRITE,
    ("GET", "/members/import/{job_key:str}/rejected.csv"): MEMBER_WRITE,
    ("GET", "/members/export"): MANAGER,
    ("GET", "/members/export/download"): MANAGER,
    ("POST", "/api/v1/members/import"): MEMBER_WRITE,
    ("POST", "/api/v1/messages/inbound"): MEMBER_WRITE,
    ("POST", "/api/v1/messages/receipts"): MEMBER_WRITE,
    ("GET", "/api/v1/jobs/{job_id:str}"): MEMBER_WRITE,
    ("GET", "/api/v1/jobs/{job_id:str}/rejected"): MEMBER_WRITE,
    ("GET", "/manager"): MANAGER,
    ("GET", "/manager/audit"): AUDIT,
    ("GET", "/manager/messages"): MANAGER,
    ("GET", "/manager/messages/settings"): MANAGER,
    ("POST", "/manager/messages/settings"): CATALOG_WRITE,
    ("GET", "/manager/stock"): MANAGER,
    ("GET", "/manager/stock/products/{sku:str}"): MANAGER,
    ("GET", "/manager/stock/expiring"): MANAGER,
    ("GET", "/manager/stock/receive"): STOCK,
    ("POST", "/manager/stock/receive"): STOCK,
    ("POST", "/manager/stock/batches/{batch_id:int}/status"): STOCK,
    ("POST", "/manager/stock/batches/{batch_id:int}/write-off"): STOCK,
    ("POST", "/manager/stock/batches/{batch_id:int}/count"): STOCK,
    ("POST", "/manager/stock/returned/{pack_id:int}/release"): STOCK,
    ("POST", "/manager/stock/returned/{pack_id:int}/write-off"): STOCK,
    ("GET", "/manager/settings"): MANAGER,
    ("POST", "/manager/settings"): CATALOG_WRITE,
    ("POST", "/api/v1/stock/receipts"): STOCK,
    ("GET", "/manager/catalog"): CATALOG_READ,
    ("GET", "/manager/catalog/new"): CATALOG_WRITE,
    ("POST", "/manager/catalog/new"): CATALOG_WRITE,
    ("GET", "/manager/catalog/{sku:str}"): CATALOG_READ,
    ("POST", "/manager/catalog/{sku:str}"): CATALOG_WRITE,
    ("GET", "/manager/catalog/import"): CATALOG_WRITE,
    ("POST", "/manager/catalog/import"): CATALOG_WRITE,
    ("GET", "/manager/catalog/import/template"): CATALOG_WRITE,
    ("GET", "/manager/catalog/export.csv"): CATALOG_READ,
    ("GET", "/manager/catalog/import/{job_key:str}"): CATALOG_WRITE,
    ("GET", "/manager/catalog/import/{job_key:str}/rejected.csv"): CATALOG_WRITE,
    ("GET", "/api/v1/products"): set(USERS),
    ("POST", "/api/v1/products"): CATALOG_WRITE,
    ("GET", "/manager/loyalty"): CATALOG_READ,
    ("POST", "/manager/loyalty"): CATALOG_WRITE,
    ("GET", "/manager/coupons"): CATALOG_READ,
    ("POST", "/manager/coupons"): CATALOG_WRITE,
    ("POST", "/manager/coupons/{code:str}/issue"): COUPON_ISSUE,
    ("POST", "/manager/coupons/{code:str}/print"): CATALOG_WRITE,
    ("ASGI", "/manager/queue"): AUDIT,
    ("GET", "/manager/events"): AUDIT,
    ("POST", "/manager/events/{event_id:int}/retry"): AUDIT,
    ("GET", "/manager/tasks"): MANAGER,
    ("GET", "/manager/adherence"): MANAGER,
    ("GET", "/members/{member_no:str}/adherence"): COUNTER,
    ("GET", "/api/v1/members/{member_no:str}/adherence"): MEMBER_WRITE,
    ("GET", "/counter/tasks"): COUNTER,
    ("GET", "/counter/tasks/{task_id:int}"): COUNTER,
    ("POST", "/counter/tasks/{task_id:int}/outcome"): COUNTER,
    ("POST", "/counter/tasks/{task_id:int}/reassign"): COUNTER,
    ("POST", "/counter/tasks/{task_id:int}/snooze"): COUNTER,
    ("GET", "/api/v1/tasks"): COUNTER,
    ("POST", "/api/v1/tasks/{task_id:int}/outcome"): COUNTER,
    ("GET", "/manager/journeys"): MANAGER,
    ("GET", "/manager/journeys/new"): AUDIT,
    ("POST", "/manager/journeys/draft"): AUDIT,
    ("POST", "/manager/journeys/preview"): AUDIT,
    ("POST", "/manager/journeys"): AUDIT,
    ("GET", "/manager/journeys/{code:str}"): MANAGER,
    ("POST", "/manager/journeys/{code:str}"): AUDIT,
    ("POST", "/manager/journeys/{code:str}/switch"): AUDIT,
    ("GET", "/api/v1/members/{member_no:str}/points"): MEMBER_WRITE,
    ("GET", "/api/v1/members"): MEMBER_WRITE,
    ("POST", "/api/v1/members"): MEMBER_WRITE,
    ("GET", "/api/v1/members/{member_no:str}"): MEMBER_WRITE,
    ("PATCH", "/api/v1/members/{member_no:str}"): MEMBER_WRITE,
    ("POST", "/api/v1/members/{member_no:str}/allergies"): MEMBER_WRITE,
    ("POST", "/api/v1/members/{member_no:str}/vitals"): MEMBER_WRITE,
    ("POST", "/api/v1/members/{member_no:str}/conditions"): MEMBER_WRITE,
    ("GET", "/api/v1/members/{member_no:str}/timeline"): MEMBER_WRITE,
    ("GET", "/api/v1/members/{member_no:str}/consents"): MEMBER_WRITE,
    ("POST", "/api/v1/members/{member_no:str}/consents"): MEMBER_WRITE,
    ("GET", "/api/v1/journeys"): MANAGER,
    ("POST", "/api/v1/sales"): SALE,
    ("GET", "/api/v1/sales/{sale_no:str}"): SALE | MANAGER,
    ("POST", "/api/v1/sales/{sale_no:str}/returns"): PHARMACISTS,
    ("GET", "/members/{member_no:str}/health"): COUNTER,
    ("POST", "/members/{member_no:str}/health/allergies"): COUNTER,
    ("POST", "/members/{member_no:str}/health/no-known-allergies"): COUNTER,
    ("POST", "/members/{member_no:str}/health/allergy-status"): COUNTER,
    ("POST", "/members/{member_no:str}/health/conditions"): COUNTER,
    ("POST", "/members/{member_no:str}/health/conditions/confirm"): {"pharmacist"},
    ("POST", "/members/{member_no:str}/health/conditions/resolve"): COUNTER,
    ("POST", "/members/{member_no:str}/health/preferences"): COUNTER,
    ("GET", "/members/{member_no:str}/vitals"): COUNTER,
    ("POST", "/members/{member_no:str}/vitals"): COUNTER,
}


def registered(app: Litestar) -> list[tuple[str, str, object]]:
    """(method, path, handler) for every route the app serves, OPTIONS aside; a mounted ASGI app as "ASGI"."""
    found = []
    for route in app.routes:
        mounted = getattr(route, "route_handler", None)
        if mounted is not None:
            found.append(("ASGI", route.path, mounted))
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method != "OPTIONS":
                    found.append((method, route.path, handler))
    return found


def test_every_route_is_in_the_matrix() -> None:
    app = create_app()
    for method, path, handler in registered(app):
        assert (method, path) in MATRIX, f"{method} {path} has no access rule in the matrix"
        expected = MATRIX[(method, path)]
        declared = allowed_roles(handler)
        if expected == PUBLIC:
            assert declared is None, f"{method} {path} is guarded but the matrix says public"
        else:
            assert declared == expected, f"{method} {path} admits {declared}, the matrix says {expected}"
    assert {(m, p) for m, p, _ in registered(app)} == set(MATRIX), "the matrix names a route that no longer exists"


def _concrete(path: str, member_no: str) -> str:
    return (
        path.replace("{member_no:str}", member_no)
        .replace("{merge_id:int}", "1")
        .replace("{batch_id:int}", "1")
        .replace("{file_path:path}", "css/yaoshi.css")
        .replace("{path:str}", "nothing-here")
        .replace("{sku:str}", "YS00001")
        .replace("{code:str}", "NOCOUPON")
        .replace("{product_id:int}", "1")
        .replace("{cart_id:int}", "1")
        .replace("{device_id:int}", "1")
        .replace("{sale_no:str}", "S00000000")
        .replace("{return_no:str}", "R00000000")
        .replace("{pack_id:int}", "1")
        .replace("{task_id:int}", "1")
        .replace("{event_id:int}", "1")
        .replace("{name:str}", "0" * 32 + ".jpg")
    )


def _body(path: str) -> dict:
    if path == "/api/v1/members/{member_no:str}/consents":
        return {"purpose": "marketing_sms", "granted": True}
    if path.endswith("/allergies"):
        return {"allergen_class": "penicillins", "criticality": "high"}
    if path.endswith("/vitals"):
        return {"kind": "bp", "systolic": "128", "diastolic": "82"}
    if path.endswith("/health/conditions") or path.endswith("/api/v1/members/{member_no:str}/conditions"):
        return {"code": "hypertension"}
    if path.endswith("/health/preferences"):
        return {"kind": "channel", "value": "wechat"}
    if path.endswith("/members") or path.endswith("/register"):
        return {"name": "矩阵测试", "phone": "13900009999", "store": "SH001"}
    if path == "/counter/lookup":
        return {"code": "8000000011"}
    if path == "/login":
        return {"username": "nobody", "password": "x"}
    return {}


async def _api_token(username: str) -> str:
    staff = await fetch("SELECT id FROM staff WHERE username = {}", username)
    token, digest = new_api_token()
    await fetch(
        "INSERT INTO api_token (staff, token_hash, label, created_at, revoked) VALUES ({}, {}, 'matrix', {}, {})",
        staff[0]["id"],
        digest,
        datetime.now(UTC),
        False,
    )
    return token


@pytest.mark.parametrize("role", [None, *USERS])
async def test_each_route_allows_exactly_its_roles(client, role: str | None) -> None:
    member = await members.register(members.NewMember(name="矩阵", phone="13900001111"), await actor())
    await grant_health_consent(member.member_no)
    token = await login(client, USERS[role]) if role else await csrf_token(client)
    api_token = await _api_token(USERS[role]) if role else None
    for method, path, _ in registered(client.app):
        rule = MATRIX[(method, path)]
        url = _concrete(path, member.member_no)
        is_api = path.startswith("/api/")
        headers = {"x-csrftoken": token}
        if is_api and api_token:
            headers = {"Authorization": f"Bearer {api_token}"}
        if method == "GET" and path == "/api/v1/members":
            url += "?phone=13900001111"
        if method == "ASGI":
            method = "GET"
        if method in ("POST", "PATCH"):
            kwargs = {"json": _body(path)} if is_api else {"data": _body(path)}
            response = await client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        else:
            response = await client.request(method, url, headers=headers, follow_redirects=False)
        label = f"{role or 'anonymous'} {method} {path} → {response.status_code}"
        assert response.status_code < 500, label
        if path == "/logout" and role:
            # Logging out ends the session: log in again for the remaining routes.
            token = await login(client, USERS[role])
            continue
        if rule == PUBLIC:
            assert response.status_code not in (401, 403), label
        elif role in rule:
            assert response.status_code not in (401, 403), label
            assert not response.headers.get("location", "").startswith("/login"), label
        elif role is None:
            if is_api:
                assert response.status_code == 401, label
            else:
                assert response.status_code == 303 and response.headers["location"].startswith("/login"), label
        else:
            assert response.status_code == 403, label


async def test_options_answers_every_path_without_a_login(client) -> None:
    """A surface's router carries its guard, and Litestar gives each path's OPTIONS answer the router's guards: the
    guards let OPTIONS through, so it stays what it was, the methods a path allows, to anyone."""
    for path in sorted({p for m, p, _ in registered(client.app) if m != "ASGI"}):  # a mount answers for itself
        response = await client.options(_concrete(path, "8000000011"), follow_redirects=False)
        assert response.status_code == 204, f"OPTIONS {path} → {response.status_code}"
        assert "OPTIONS" in response.headers["allow"], path
