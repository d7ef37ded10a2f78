"""Demo coupon templates: seeded once."""

from __future__ import annotations

from app.components import coupons
from app.components.coupons.demo import DEMO_TEMPLATES


async def test_demo_templates_are_seeded_once() -> None:
    assert await coupons.seed_demo_coupons() == len(DEMO_TEMPLATES)
    assert await coupons.seed_demo_coupons() == len(DEMO_TEMPLATES)
    assert (await coupons.get_template("new10")).benefit
