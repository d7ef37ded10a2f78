"""Shared test helpers for coupons: cart lines, a member, a template, a printed code."""

from __future__ import annotations

from datetime import date

from app.components import coupons, members
from app.components.coupons import CouponLine, NewTemplate
from tests.conftest import actor

TODAY = date(2026, 11, 30)


LINES = [
    CouponLine(1, 11, "YS00001", "感冒/流感", 3000),
    CouponLine(2, 12, "YS00002", "感冒/流感", 2000),
    CouponLine(3, 13, "YS00003", "维矿物质", 1001),
]


async def _member(name: str = "券") -> int:
    view = await members.register(members.NewMember(name=name), await actor())
    return await members.member_id(view.member_no)


async def _template(code: str, **kw: str) -> coupons.TemplateView:
    form = NewTemplate(**{"code": code, "name_zh": f"券{code}", "value": "10", **kw})
    return await coupons.create_template(form, await actor("admin"))


async def _printed(code: str, **kw: str) -> str:
    await _template(code, **kw)
    return (await coupons.print_codes(code, 1, await actor("admin")))[0].code
