"""Shared test helpers for loyalty: a member, and earning or redeeming inside a transaction."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from app.components import loyalty, members
from app.components.loyalty import DEFAULT_RULES
from app.db import transaction
from tests.conftest import actor


async def _member(name: str = "积分") -> int:
    view = await members.register(members.NewMember(name=name), await actor())
    return await members.member_id(view.member_no)


async def _earn(member_id: int, sale_no: str, fen: int, on: date) -> int:
    async with transaction():
        return await loyalty.earn(member_id, sale_no, fen, on, None, await actor())


async def _redeem(member_id: int, points: int, sale_no: str) -> int:
    async with transaction():
        return await loyalty.redeem(member_id, points, sale_no, None, await actor())


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 40_000), st.integers(0, 500)),
        st.tuples(st.just("redeem"), st.integers(1, 600), st.just(0)),
        st.tuples(st.just("return"), st.integers(0, 400), st.integers(0, 400)),
        st.tuples(st.just("expire"), st.integers(0, 500), st.just(0)),
    ),
    max_size=12,
)


FORM = loyalty.rules_form(DEFAULT_RULES)
