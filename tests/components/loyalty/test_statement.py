"""What a member sees: the paged statement and the counter's wallet."""

from __future__ import annotations

from datetime import date

from app.components import loyalty
from tests.components.loyalty.loyalty_data import _earn, _member


async def test_the_statement_pages_within_bounds() -> None:
    member = await _member()
    for n in range(3):
        await _earn(member, f"S{n}", 1_000, date(2026, 3, 15))
    first = await loyalty.statement(member, page=0, per_page=0)
    assert (first.page, first.per_page, len(first.entries), first.has_next) == (1, 1, 1, True)
    assert first.entries[0]["ref"] == "S2"  # newest first
    last = await loyalty.statement(member, page=3, per_page=1)
    assert ([e["ref"] for e in last.entries], last.has_next) == (["S0"], False)
    assert (await loyalty.statement(member, per_page=1_000)).per_page == 200
    assert (await loyalty.statement(member, page=1, per_page=2)).has_next is True
    second = await loyalty.statement(member, page=2, per_page=2)
    assert ([e["ref"] for e in second.entries], second.has_next) == (["S0"], False)
