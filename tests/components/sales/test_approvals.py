"""The sale's allergy outcomes by criticality (block / acknowledge / show), from the recorded allergies whatever the
cached status says, and the approvals a sale records (each on its own: override with its reason, prescription
verified, acknowledged warnings)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.components import members, sales
from app.components.core.errors import ValidationFailed
from app.components.sales import quote as quotes
from app.db import fetch
from tests.components.sales.sale_data import make_member, make_products, request, stock_in, zhang_wei
from tests.conftest import actor, actor_at_tablet


@pytest.fixture
async def products() -> dict:
    found = await make_products()
    for sku in found:
        await stock_in(sku, 50, "B1")
    return found


def _allergy(q: quotes.Quote, line_no: int = 1) -> list[quotes.LineAlert]:
    return [a for a in q.lines[line_no - 1].alerts if a.kind == "allergy"]


async def test_amoxicillin_blocks_and_aspirin_only_asks_for_an_acknowledgement(products: dict) -> None:
    member_no = await zhang_wei()
    clerk = await actor("clerk")
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90001", 1)]), clerk)
    (alert,) = _allergy(q)
    assert alert.level == "high" and alert.detail["action"] == "override" and alert.detail["criticality"] == "high"
    assert "allergy_high" in q.blocker_codes and q.conflicts

    aspirin = await request(member_no=member_no, lines=[("YS90004", 1)])
    q = await sales.quote(aspirin, clerk)
    (alert,) = _allergy(q)
    assert (alert.level, alert.detail["pair_level"], alert.detail["action"]) == ("caution", "high", "acknowledge")
    assert "allergy_high" not in q.blocker_codes and not q.conflicts  # never a block
    assert "allergy_ack" in q.blocker_codes and [u["line_no"] for u in q.unacknowledged] == [1]
    with pytest.raises(sales.AllergyBlocked) as blocked:
        await sales.record_sale(aspirin, clerk)
    assert blocked.value.conflicts == [] and blocked.value.unacknowledged[0]["recorded_class"] == "nsaids"

    tapped = datetime(2026, 12, 1, 2, 3, tzinfo=UTC)
    acked = replace(aspirin, acknowledged=(sales.Acknowledgement(1, "nsaids", clerk.id, tapped),))
    q = await sales.quote(acked, clerk)
    assert q.can_checkout, q.blockers
    assert _allergy(q)[0].detail["acknowledged_by_name"] == "李店员"
    sale = (await sales.record_sale(acked, clerk)).sale
    (approval,) = sale.approvals
    assert (approval.kind, approval.line_no, approval.allergen_class, approval.by_name) == (
        "allergy_acknowledged",
        1,
        "nsaids",
        "李店员",
    )
    assert approval.at == tapped
    stored = (await fetch("SELECT alerts FROM sale_line WHERE sale = {}", sale.id))[0]["alerts"]
    assert "acknowledged_by" in str(stored)  # the line's stored alert says who acknowledged it


async def test_an_acknowledgement_never_clears_a_block_and_must_come_from_selling_staff_of_the_store(
    products: dict, staff_ids
) -> None:
    member_no = await zhang_wei()
    clerk = await actor("clerk")
    req = await request(member_no=member_no, lines=[("YS90001", 1), ("YS90004", 1)])
    ack_block = sales.Acknowledgement(1, "penicillins", clerk.id)
    q = await sales.quote(replace(req, acknowledged=(ack_block,)), clerk)
    assert "allergy_high" in q.blocker_codes and "allergy_ack" in q.blocker_codes
    for who in ("service", "pharmacist2"):  # may not sell / another store
        q = await sales.quote(replace(req, acknowledged=(sales.Acknowledgement(2, "nsaids", staff_ids[who]),)), clerk)
        assert [u["line_no"] for u in q.unacknowledged] == [2]
    wrong_line = replace(req, acknowledged=(sales.Acknowledgement(1, "nsaids", clerk.id),))
    assert [u["line_no"] for u in (await sales.quote(wrong_line, clerk)).unacknowledged] == [2]
    with pytest.raises(ValidationFailed) as bad:
        await sales.quote(replace(req, acknowledged=(sales.Acknowledgement(9, "nsaids", clerk.id),)), clerk)
    assert "acknowledged.0.line_no" in bad.value.errors


@pytest.mark.parametrize("status", ["none", "unknown"])
async def test_a_stale_allergy_status_hides_no_recorded_allergy(products: dict, status: str) -> None:
    # A merge, an import or an edit left the cached status wrong: the recorded allergies still decide.
    member_no = await zhang_wei()
    await fetch("UPDATE member SET allergy_status = {} WHERE member_no = {}", status, member_no)
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90001", 1), ("YS90004", 1)]), await actor())
    assert [a.level for a in _allergy(q, 1)] == ["high"] and [a.level for a in _allergy(q, 2)] == ["caution"]
    assert "allergy_high" in q.blocker_codes
    assert not [a for line in q.lines for a in line.alerts if a.level == "ask"]  # something is recorded


async def test_never_asked_prompts_only_without_recorded_allergies(products: dict) -> None:
    member_no = await make_member()  # status unknown, nothing recorded
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90008", 1)]), await actor())
    assert [a.level for a in _allergy(q)] == ["ask"] and q.can_checkout
    await fetch("UPDATE member SET allergy_status = 'none' WHERE member_no = {}", member_no)
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90008", 1)]), await actor())
    assert _allergy(q) == []


async def test_refuted_and_resolved_allergies_are_not_checked(products: dict) -> None:
    member_no = await zhang_wei()
    await fetch("UPDATE allergy SET verification_status = 'refuted' WHERE allergen_class = 'penicillins'")
    await fetch("UPDATE allergy SET clinical_status = 'resolved' WHERE allergen_class = 'nsaids'")
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90001", 1), ("YS90004", 1)]), await actor())
    assert _allergy(q, 1) == [] and _allergy(q, 2) == []


async def test_override_and_prescription_are_recorded_each_on_its_own(products: dict, staff_ids) -> None:
    member_no = await zhang_wei()
    clerk = await actor("clerk")
    approved = datetime(2026, 12, 1, 2, 5, tzinfo=UTC)
    req = await request(
        member_no=member_no,
        lines=[("YS90007", 1), ("YS90001", 1)],
        override=sales.Override("皮试阴性，医生确认", staff_ids["pharmacist"], approved),
        prescription=sales.Prescription("RX-7", "瑞金医院", verified_by=staff_ids["pharmacist"], verified_at=approved),
    )
    sale = (await sales.record_sale(req, clerk)).sale
    assert [(a.kind, a.line_no, a.allergen_class, a.reason, a.by_name, a.at) for a in sale.approvals] == [
        ("allergy_override", 2, "penicillins", "皮试阴性，医生确认", "王药师", approved),
        ("rx_verified", None, "", "", "王药师", approved),
    ]
    assert (sale.override_by_name, sale.rx_verified_by_name) == ("王药师", "王药师")
    body = sale.as_json()
    assert [a["kind"] for a in body["approvals"]] == ["allergy_override", "rx_verified"]
    assert body["approvals"][0]["by"] == "王药师"
    assert (await sales.get_sale(sale.sale_no, clerk)).approvals == sale.approvals


async def test_the_cart_keeps_acknowledgements_per_line_and_drops_them_for_another_member(products: dict) -> None:
    member_no = await zhang_wei()
    clerk = await actor_at_tablet("clerk")
    member_id = (await fetch("SELECT id FROM member WHERE member_no = {}", member_no))[0]["id"]
    await sales.claim_member(clerk, member_id)
    aspirin, vitamin = products["YS90004"].id, products["YS90007"].id
    await sales.add_product(clerk, aspirin)
    cart = await sales.acknowledge(clerk, aspirin, "nsaids")
    (ack,) = cart.acknowledgements
    assert (ack["product_id"], ack["allergen_class"], ack["by_name"]) == (aspirin, "nsaids", "李店员")
    assert ack["by"] == clerk.id and ack["at"]
    cart = await sales.add_product(clerk, vitamin)  # another product: the aspirin line's tap stands
    cart = await sales.change_qty(clerk, aspirin, 1)
    assert len(cart.acknowledgements) == 1
    q = await sales.quote(sales.to_sale_request(cart), clerk)
    assert "allergy_ack" not in q.blocker_codes
    assert (await sales.acknowledge(clerk, aspirin, "nsaids")).acknowledgements[0]["product_id"] == aspirin
    other = (await fetch("SELECT id FROM member WHERE member_no = {}", await make_member("李四")))[0]["id"]
    asked = await sales.claim_member(clerk, other)  # another member's card while the cart holds lines: asked
    assert asked.pending_member_id == other and len(asked.acknowledgements) == 1
    assert (await sales.answer_switch(clerk, "move", asked.key)).acknowledgements == ()
    asked = await sales.claim_member(clerk, member_id)
    await sales.answer_switch(clerk, "move", asked.key)
    await sales.acknowledge(clerk, aspirin, "nsaids")
    assert (await sales.remove_line(clerk, aspirin)).acknowledgements == ()
    with pytest.raises(ValidationFailed):
        await sales.acknowledge(clerk, vitamin, "")


async def test_one_approval_gives_override_and_verification_for_the_cart_it_was_given_for(
    products: dict, staff_ids
) -> None:
    member_no = await zhang_wei()
    clerk = await actor_at_tablet("clerk")
    member_id = (await fetch("SELECT id FROM member WHERE member_no = {}", member_no))[0]["id"]
    await sales.claim_member(clerk, member_id)
    amoxicillin = products["YS90001"].id
    await sales.add_product(clerk, amoxicillin)
    await sales.set_prescription(clerk, "RX-1", "瑞金医院")
    cart, pending = await sales.pharmacist_pending(clerk)
    assert pending == ("allergy_override", "rx_verified")
    with pytest.raises(ValidationFailed) as changed:
        await sales.approve(
            clerk, staff_ids["pharmacist"], "王药师", reason="医生确认", verify_rx=True, products=[amoxicillin, 999_999]
        )
    assert "approve" in changed.value.errors
    cart = await sales.approve(
        clerk, staff_ids["pharmacist"], "王药师", reason="医生确认", verify_rx=True, products=[amoxicillin]
    )
    assert cart.override["by_name"] == cart.prescription["verified_by_name"] == "王药师"
    assert (await sales.pharmacist_pending(clerk))[1] == ()
    # The same reference saved again keeps its check.
    again = await sales.set_prescription(clerk, "RX-1", "瑞金医院")
    assert again.prescription["verified_by"] == staff_ids["pharmacist"]


async def test_an_override_answers_only_the_alerts_the_pharmacist_saw(products: dict, staff_ids) -> None:
    """An allergy recorded elsewhere (the profile, another counter, the API) while the cart is open raises a block
    the earlier override never covered: the pharmacist must look again, the sale cannot be paid meanwhile."""
    member_no = await make_member("周敏", ("penicillins",))
    clerk = await actor_at_tablet("clerk")
    member_id = (await fetch("SELECT id FROM member WHERE member_no = {}", member_no))[0]["id"]
    await sales.claim_member(clerk, member_id)
    amoxicillin, ibuprofen = products["YS90001"].id, products["YS90008"].id
    await sales.add_product(clerk, amoxicillin)
    await sales.add_product(clerk, ibuprofen)
    await sales.set_prescription(clerk, "RX-2", "瑞金医院")
    cart = await sales.approve(
        clerk,
        staff_ids["pharmacist"],
        "王药师",
        reason="皮试阴性，医生确认",
        verify_rx=True,
        products=[amoxicillin, ibuprofen],
    )
    assert cart.override["covers"] == [[amoxicillin, "penicillins"]]
    assert "allergy_high" not in (await sales.quote(sales.to_sale_request(cart), clerk)).blocker_codes

    new = members.NewAllergy(allergen_class="nsaids", criticality="high", reaction="anaphylaxis")
    await members.add_allergy(member_no, new, await actor())  # on the profile, not at this counter
    q = await sales.quote(sales.to_sale_request(await sales.current(clerk)), clerk)
    assert "allergy_high" in q.blocker_codes
    assert [(c["product_id"], c["recorded_class"]) for c in q.conflicts] == [(ibuprofen, "nsaids")]
    assert q.pharmacist_pending == ("allergy_override",)
    cart = await sales.approve(
        clerk,
        staff_ids["pharmacist"],
        "王药师",
        reason="医生确认可用",
        products=[amoxicillin, ibuprofen],
    )
    assert sorted(map(tuple, cart.override["covers"])) == sorted([(amoxicillin, "penicillins"), (ibuprofen, "nsaids")])
    assert "allergy_high" not in (await sales.quote(sales.to_sale_request(cart), clerk)).blocker_codes


async def test_verify_pin_returns_the_pharmacist_and_refuses_a_wrong_pin_or_role(staff_ids) -> None:
    clerk = await actor("clerk")
    found = await sales.verify_pin(clerk, "pharmacist", "2468")
    assert (found.id, found.display_name) == (staff_ids["pharmacist"], "王药师")
    assert (await sales.verify_pin(clerk, "Manager", "2468")).id == staff_ids["manager"]
    for username, pin in (("pharmacist", "1111"), ("clerk", "2468"), ("nobody", "2468"), ("pharmacist2", "2468")):
        with pytest.raises(ValidationFailed) as bad:
            await sales.verify_pin(clerk, username, pin)
        assert "pin" in bad.value.errors


# ---------------------------------------------------------------- quote: duplicate therapy, Rx, tenders, discounts
