"""Product input: one message per bad field."""

from __future__ import annotations

import pytest

from app.components import catalog
from app.components.core.errors import ValidationFailed
from app.db import fetch
from tests.components.catalog.catalog_data import _new
from tests.conftest import actor


@pytest.mark.parametrize(
    ("field", "value", "part"),
    [
        ("sku", "12 34", "SKU"),
        ("gtins", "6900000000018", "GTIN"),
        ("atc", "J1", "ATC"),
        ("allergen_classes", "penicillins cats", "cats"),
        ("rx_class", "prescription", "Rx"),
        ("category_l1", "Snacks", "抗感染"),
        ("price", "-1", "fen"),
        ("price", "12.5", "fen"),
        ("price_yuan", "12.555", "yuan"),
        ("pack_units", "0", "at least 1"),
        ("units_per_day", "-2", "0 or more"),
        ("cold_chain", "maybe", "yes or no"),
        ("trace_prefixes", "123", "7"),
        ("name_zh", "", "Chinese name"),
    ],
)
async def test_create_rejects_bad_input_per_field(field: str, value: str, part: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await catalog.upsert_product(_new(**{field: value}), await actor("admin"))
    assert field in info.value.errors and part in info.value.errors[field], info.value.errors
    assert await fetch("SELECT id FROM product") == []
