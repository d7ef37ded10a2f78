"""Coupon codes: long, random, of an unambiguous alphabet."""

from __future__ import annotations

from app.components import coupons


def test_codes_are_long_random_and_unambiguous() -> None:
    codes = {coupons.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 12 and not set(c) & set("01OIL") for c in codes)
