"""The counter's payment form meets the sale component's tender bounds: the message sits next to the amount."""

from __future__ import annotations

from tests.components.sales.sale_data import gtin
from tests.routes.counter.test_sale import _counter, _scan, _stocked


async def test_more_cash_than_a_sale_can_take_is_shown_next_to_the_amount(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))  # ¥9.90: at most ¥109.90 cash (the total and one ¥100 note)
    typo = await client.get("/counter/checkout", params={"kind": "cash", "amount": "990"}, headers=headers)
    assert typo.status_code == 422
    assert 'data-testid="error-amount"' in typo.text and "109.90" in typo.text
    note = await client.get("/counter/checkout", params={"kind": "cash", "amount": "100"}, headers=headers)
    assert note.status_code == 200 and 'data-testid="change">¥90.10<' in note.text
