"""Catalog pages for HQ and the product API: search, create/update by SKU, field errors, roles."""

from __future__ import annotations

import pytest

from app.components import catalog
from app.components.audit import log as audit
from app.db import fetch
from tests.conftest import api_headers, login

EN = {"Accept-Language": "en"}  # the field errors these tests read are in English


@pytest.fixture
async def demo() -> int:
    return await catalog.seed_demo_catalog()


async def test_api_search_by_name_atc_and_code(client, demo: int) -> None:
    headers = await api_headers("clerk", **EN)
    found = await client.get("/api/v1/products", params={"q": "J01D"}, headers=headers)
    assert found.status_code == 200
    assert {p["generic_en"] for p in found.json()["products"]} >= {"cefalexin", "cefixime"}
    ean = catalog.demo_gtin(1)[1:]
    by_code = (await client.get("/api/v1/products", params={"q": ean}, headers=headers)).json()["products"]
    assert by_code[0]["sku"] == "YS00001" and by_code[0]["gtins"] == [catalog.demo_gtin(1)]
    assert by_code[0]["allergen_classes"] == ["penicillins"] and by_code[0]["rx_class"] == "Rx"
    assert (await client.get("/api/v1/products", params={"q": "阿莫西林"})).status_code == 401


async def test_api_creates_then_updates_by_sku(client) -> None:
    headers = await api_headers("admin", **EN)
    body = {
        "sku": "ERP-9",
        "name_zh": "维生素D滴剂",
        "rx_class": "OTC",
        "category_l1": "维矿物质",
        "price": 3900,
        "gtins": ["6912345000000"],
        "atc": "A11CC05",
        "pack_units": 30,
        "units_per_day": 1,
    }
    created = await client.post("/api/v1/products", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["created"] is True and created.json()["days_supply"] == 30
    updated = await client.post("/api/v1/products", json={"sku": "ERP-9", "price": 4200}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["price"] == 4200 and updated.json()["name_zh"] == "维生素D滴剂"
    again = await client.get("/api/v1/products", params={"q": "6912345000000"}, headers=headers)
    assert again.json()["products"][0]["price"] == 4200
    assert await audit.count(catalog.PRODUCT_UPSERT) == 2


async def test_api_reports_field_errors_and_refuses_other_roles(client) -> None:
    admin = await api_headers("admin", **EN)
    bad = await client.post(
        "/api/v1/products",
        json={"sku": "ERP-9", "name_zh": "x", "rx_class": "maybe", "category_l1": "维矿物质", "price": -5},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"rx_class", "price"}
    missing = await client.post("/api/v1/products", json={"sku": "ERP-10", "name_zh": "x"}, headers=admin)
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"rx_class", "category_l1", "price"}
    wrong_type = await client.post("/api/v1/products", json={"sku": "ERP-10", "price": [1]}, headers=admin)
    assert wrong_type.status_code in (400, 422)
    pharmacist = await api_headers("pharmacist", **EN)
    assert (await client.post("/api/v1/products", json={"sku": "ERP-11"}, headers=pharmacist)).status_code == 403
    assert await fetch("SELECT id FROM product") == []


async def test_catalog_list_searches_filters_and_pages(client, demo: int) -> None:
    await login(client, "analyst")
    page = await client.get("/manager/catalog")
    assert page.status_code == 200
    assert page.text.count('data-testid="catalog-row"') == 30 and 'data-testid="next-page"' in page.text
    assert 'data-testid="catalog-new"' not in page.text  # analysts read only
    last = await client.get("/manager/catalog", params={"page": 3})
    assert last.text.count('data-testid="catalog-row"') == demo - 60 and 'data-testid="next-page"' not in last.text
    partial = await client.get("/manager/catalog", params={"q": "头孢"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.text and partial.text.count('data-testid="catalog-row"') == 5
    devices = await client.get("/manager/catalog", params={"category": "医疗器械"})
    assert devices.text.count('data-testid="catalog-row"') == 4
    none = await client.get("/manager/catalog", params={"q": "nothing-like-this"})
    assert 'data-testid="no-products"' in none.text


async def test_product_page_shows_the_knowledge_card_and_only_admins_edit(client, demo: int) -> None:
    await login(client, "manager")
    page = await client.get("/manager/catalog/YS00001")
    assert page.status_code == 200
    assert 'data-testid="knowledge-card"' in page.text and "青霉素" in page.text
    assert "<dd>处方药（Rx）</dd>" in page.text  # the class in words, not the code
    assert 'data-testid="product-form"' not in page.text
    missing = await client.get("/manager/catalog/YS99999")
    assert missing.status_code == 404 and "YS99999" in missing.text


async def test_admin_edits_a_product_and_keeps_input_on_errors(client, demo: int) -> None:
    token = await login(client, "admin")
    page = await client.get("/manager/catalog/YS00003")
    assert 'data-testid="product-form"' in page.text and 'value="6900000000038"' in page.text
    form = {
        "_csrf_token": token,
        "name_zh": "头孢氨苄胶囊 0.25g×24粒",
        "name_en": "Cefalexin capsules",
        "generic_zh": "头孢氨苄",
        "generic_en": "cefalexin",
        "substance": "cefalexin",
        "atc": "J01DB01",
        "rx_class": "Rx",
        "category_l1": "抗感染",
        "category_l2": "西药",
        "allergen_classes": "cephalosporins_aminocephalosporin",
        "price_yuan": "abc",
        "form": "capsule",
        "pack_units": "24",
        "units_per_day": "4",
        "active": "on",
        "gtins": "6900000000038",
        "trace_prefixes": catalog.demo_trace_prefix(3),
        "counselling_zh": "",
        "counselling_en": "",
    }
    bad = await client.post("/manager/catalog/YS00003", data=form, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert 'data-testid="error-price_yuan"' in bad.text and "头孢氨苄胶囊 0.25g×24粒" in bad.text
    good = await client.post(
        "/manager/catalog/YS00003",
        data={**form, "price_yuan": "28.80", "counselling_en": "Take every 6 hours."},
        headers={"HX-Request": "true"},
    )
    assert good.status_code == 200 and 'data-testid="product-saved"' in good.text
    product = await catalog.get_product("YS00003")
    assert product.price == 2880 and product.name_zh == "头孢氨苄胶囊 0.25g×24粒"
    assert not product.cold_chain and product.active
    assert product.knowledge["counselling"]["en"] == "Take every 6 hours."
    assert product.codes == (catalog.demo_gtin(3), catalog.demo_trace_prefix(3))


async def test_admin_creates_a_product_from_the_new_form(client, demo: int) -> None:
    token = await login(client, "admin")
    assert (await client.get("/manager/catalog/new")).status_code == 200
    form = {
        "_csrf_token": token,
        "sku": "ys90001",
        "name_zh": "医用酒精棉片",
        "rx_class": "device",
        "category_l1": "医疗器械",
        "price_yuan": "9.9",
        "pack_units": "100",
        "active": "on",
    }
    taken = await client.post("/manager/catalog/new", data={**form, "sku": "YS00001"})
    assert taken.status_code == 422 and 'data-testid="error-sku"' in taken.text and "医用酒精棉片" in taken.text
    created = await client.post("/manager/catalog/new", data=form, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"].startswith("/manager/catalog/YS90001")
    product = await catalog.get_product("YS90001")
    assert product.price == 990 and product.rx_class == "device" and product.active and not product.dtp


async def test_import_page_uploads_and_reports(client, demo: int) -> None:
    token = await login(client, "admin")
    page = await client.get("/manager/catalog/import")
    assert page.status_code == 200 and 'data-testid="catalog-import-form"' in page.text
    template = await client.get("/manager/catalog/import/template")
    assert template.status_code == 200 and "商品编码" in template.content.decode("utf-8-sig")
    empty = await client.post("/manager/catalog/import", data={"_csrf_token": token}, files={})
    assert empty.status_code == 422 and 'data-testid="error-file"' in empty.text
    body = "SKU,Name (Chinese),Rx class,Category,Price (yuan)\nERP-5,口罩,device,医疗器械,3\nERP-6,,,,x\n"
    posted = await client.post(
        "/manager/catalog/import",
        data={"_csrf_token": token},
        files={"file": ("p.csv", body.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    report = await client.get(posted.headers["location"])
    assert 'data-testid="count-accepted">1<' in report.text and 'data-testid="count-rejected">1<' in report.text
    rejected = await client.get(posted.headers["location"] + "/rejected.csv")
    assert rejected.status_code == 200 and "ERP-6" in rejected.content.decode("utf-8-sig")
    assert (await client.get("/manager/catalog/import/" + "0" * 32)).status_code == 404
    # The member import's job API does not mistake a catalog import for one of its own.
    job_key = posted.headers["location"].rsplit("/", 1)[-1]
    as_member_job = await client.get(f"/api/v1/jobs/{job_key}", headers=await api_headers("admin", **EN))
    assert as_member_job.status_code == 404
    await login(client, "analyst")
    assert (await client.get("/manager/catalog/import")).status_code == 403


async def test_readers_download_the_catalog(client, demo: int) -> None:
    await login(client, "analyst")
    response = await client.get("/manager/catalog/export.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert "YS00063" in response.content.decode("utf-8-sig")
