"""Issuing: idempotent by source key, within the per-member limit, a store's staff to their own members."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.components import coupons, members
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from tests.components.coupons.coupon_data import _member, _template
from tests.conftest import actor


async def test_issue_is_idempotent_by_source_key_and_respects_the_member_limit() -> None:
    member = await _member()
    await _template("BDAY", valid_days="30", per_member_limit="2")
    first = await coupons.issue("BDAY", member, "birthday", "birthday:2026", None)
    again = await coupons.issue("BDAY", member, "birthday", "birthday:2026", None)
    assert first == again
    assert first.valid_to == first.valid_from + timedelta(days=29)
    await coupons.issue("BDAY", member, "campaign", "camp:1", None)
    with pytest.raises(ValidationFailed):
        await coupons.issue("BDAY", member, "campaign", "camp:2", None)
    with pytest.raises(NotFound):
        await coupons.issue("NOPE", member, "campaign", "camp:3", None)
    assert len(await coupons.wallet(member, first.valid_from)) == 2


async def test_concurrent_issues_with_one_key_make_one_coupon() -> None:
    member = await _member()
    await _template("ONCE", per_member_limit="0")
    results = await asyncio.gather(*(coupons.issue("ONCE", member, "journey", "j:1", None) for _ in range(6)))
    assert len({r.code for r in results}) == 1
    assert (await fetch("SELECT COUNT(*) AS n FROM coupon"))[0]["n"] == 1


async def test_concurrent_issues_with_different_keys_respect_the_member_limit() -> None:
    member = await _member()
    await _template("LIMIT2", per_member_limit="2")

    async def attempt(i: int) -> bool:
        try:
            await coupons.issue("LIMIT2", member, "campaign", f"c:{i}", None)
            return True
        except ValidationFailed:
            return False

    assert sum(await asyncio.gather(*(attempt(i) for i in range(6)))) == 2


async def test_store_staff_issue_only_to_their_own_stores_members() -> None:
    await _template("SHOP", per_member_limit="0")
    own = await _member("本店")
    far = await members.register(members.NewMember(name="他店", store_code="SH002"), await actor("admin"))
    far_id = await members.member_id(far.member_no)
    manager = await actor("manager")
    assert (await coupons.issue("SHOP", own, "manual", "s1", manager)).code
    with pytest.raises(ValidationFailed) as exc:
        await coupons.issue("SHOP", far_id, "manual", "s2", manager)
    assert set(exc.value.errors) == {"member_no"} and far.member_no in exc.value.errors["member_no"]
    assert (await coupons.issue("SHOP", far_id, "manual", "s3", await actor("admin"))).code  # HQ: any store
    assert (await coupons.issue("SHOP", far_id, "journey", "s4", None)).code  # the worker: any store
    held = await fetch("SELECT source_key FROM coupon WHERE member = {} ORDER BY source_key", far_id)
    assert [r["source_key"] for r in held] == ["s3", "s4"]
