"""Batches and their states: the shown state from the expiry, status changes audited, recalled is final."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.components import stock
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.i18n import use_language
from tests.components.stock.stock_data import (
    _days,
    _expired,
    _product,
    _receive,
    _store_id,
)
from tests.conftest import actor


def test_the_api_body_of_a_batch_past_its_expiry_says_expired() -> None:
    view = stock.BatchView(1, 1, "SH001", 1, "YS1", "维生素C", "OLD", _days(-1), stock.AVAILABLE, 3)
    assert (view.as_json()["status"], view.as_json()["state"]) == ("available", "expired")
    fresh = stock.BatchView(2, 1, "SH001", 1, "YS1", "维生素C", "NEW", _days(1), stock.AVAILABLE, 3)
    assert fresh.as_json()["state"] == "available"


async def test_status_changes_are_audited_and_recalled_is_final() -> None:
    product = await _product()
    batch = await _receive(product, "B1", _days(60), 4)
    manager = await actor("manager")
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:
            await stock.set_batch_status(batch.id, "lost", "", manager)
        assert set(err.value.errors) == {"status", "reason"}
        view = await stock.set_batch_status(batch.id, "quarantined", "carton wet", manager)
        assert view.status == "quarantined" and not view.sellable
        view = await stock.set_batch_status(batch.id, "available", "checked: fine", manager)
        assert view.sellable
        await stock.set_batch_status(batch.id, "recalled", "NMPA recall notice", manager)
        with pytest.raises(ValidationFailed) as err:
            await stock.set_batch_status(batch.id, "available", "mistake", manager)
        assert err.value.errors == {"status": "A recalled batch stays recalled."}
    assert await audit.count(stock.STATUS_ACTION) == 3
    other = await stock.receive(stock.Receipt("SH002", product["sku"], "X", _days(60), 1), await actor("admin"))
    with pytest.raises(NotFound):  # another store's batch is invisible to a store manager
        await stock.set_batch_status(other.id, "quarantined", "not mine", manager)


def test_the_shown_state_is_computed_from_the_expiry_against_today() -> None:
    today = date(2026, 12, 1)
    assert stock.batch_state("available", today, today) == "available"  # sellable through its expiry date
    assert stock.batch_state("available", today - timedelta(days=1), today) == "expired"
    assert stock.batch_state("quarantined", today - timedelta(days=1), today) == "expired"
    assert stock.batch_state("quarantined", today, today) == "quarantined"
    assert stock.batch_state("recalled", today - timedelta(days=1), today) == "recalled"  # a recall is final
    with use_language("zh_CN"):
        assert stock.status_label("expired") == "已过期"


async def test_an_expired_batch_is_listed_as_expired_and_never_sellable() -> None:
    product = await _product()
    old = await _expired(product, "OLD")
    good = await _receive(product, "GOOD", _days(30), 2)
    assert (old.status, old.state, old.sellable, old.may_write_off) == ("available", "expired", False, True)
    assert (good.state, good.sellable, good.may_write_off) == ("available", True, False)
    listed = {b.batch_no: b.state for b in await stock.expiring(await _store_id(), 90)}
    assert listed == {"OLD": "expired", "GOOD": "available"}
    assert {b.batch_no: b.state for b in await stock.product_batches(await _store_id(), product["id"])} == listed
    with pytest.raises(ValidationFailed) as exc:  # past its expiry it is never released back to sale
        await stock.set_batch_status(old.id, "quarantined", "off the shelf", await actor("manager"))
        await stock.set_batch_status(old.id, "available", "oops", await actor("manager"))
    assert "status" in exc.value.errors
    assert (await stock.get_batch(old.id)).status == "quarantined"
