"""Coupon templates: one message per bad field, a category scope from the catalog."""

from __future__ import annotations

import pytest

from app.components import coupons
from app.components.core.errors import ValidationFailed
from app.components.coupons import NewTemplate
from app.db import fetch
from app.i18n import use_language
from tests.components.coupons.coupon_data import _template
from tests.conftest import actor


async def test_a_bad_template_gets_one_message_per_field() -> None:
    bad = NewTemplate(
        code="?", name_zh="", kind="percent", value="120", threshold="abc", scope="product", scope_value="NOPE",
        valid_from="2026-12-31", valid_to="2026-01-01", valid_days="0", per_member_limit="x",
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as exc:
        await coupons.create_template(bad, await actor("admin"))
    assert set(exc.value.errors) == {
        "code", "name_zh", "value", "threshold", "scope_value", "valid_to", "valid_days", "per_member_limit",
    }  # fmt: skip
    await _template("TEN")
    with pytest.raises(ValidationFailed) as exc:
        await _template("TEN")
    assert "code" in exc.value.errors
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", coupons.TEMPLATE_CREATE)
    assert [r["detail"] for r in audited] == ["TEN"]


async def test_a_category_scope_is_one_of_the_catalogs_categories_shown_in_the_current_language() -> None:
    made = await _template("VITS", scope="category", scope_value="vitamins & minerals")  # the English label
    assert made.scope_value == "维矿物质"
    with use_language("en"):
        assert made.scope_text == "category Vitamins & minerals"
    with use_language("zh_CN"):
        assert made.scope_text == "类别：维矿物质"
    with pytest.raises(ValidationFailed) as exc:
        await _template("NOCAT", scope="category", scope_value="vitamin")
    assert set(exc.value.errors) == {"scope_value"}
