"""Printed coupons: a batch key never prints twice."""

from __future__ import annotations

import pytest

from app.components import coupons
from app.components.core.errors import ValidationFailed
from tests.components.coupons.coupon_data import _template
from tests.conftest import actor


async def test_print_codes_with_a_batch_key_does_not_print_twice() -> None:
    await _template("PB")
    first = await coupons.print_codes("PB", 3, await actor("admin"), batch_key="b1")
    again = await coupons.print_codes("PB", 3, await actor("admin"), batch_key="b1")
    assert first == again and len({c.code for c in first}) == 3
    with pytest.raises(ValidationFailed):
        await coupons.print_codes("PB", 0, await actor("admin"))
