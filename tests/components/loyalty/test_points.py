"""Points: earning rules, the ledger and its cache, FIFO expiry, returns, tiers, concurrent redemption."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.components import members
from app.components.core import clock
from app.components.core.errors import ValidationFailed
from app.components.loyalty import DEFAULT_RULES, EligibleLine, LoyaltyRules
from app.components.loyalty import points as loyalty
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.sales.sale_data import past_sale
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


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("fen", "tier", "on", "points"),
    [
        (12_345, "regular", date(2026, 3, 15), 123),  # ¥123.45 → 123 points, rounded down
        (12_345, "regular", date(2026, 3, 8), 246),  # member day ×2
        (10_000, "silver", date(2026, 3, 15), 120),
        (10_000, "gold", date(2026, 3, 8), 300),  # ×2 × ×1.5
        (10_050, "silver", date(2026, 3, 15), 120),  # 100.5 × 1.2 = 120.6 → 120
        (10_000, "diamond", date(2026, 3, 8), 400),
        (99, "diamond", date(2026, 3, 15), 1),
        (0, "diamond", date(2026, 3, 8), 0),
        (-500, "regular", date(2026, 3, 15), 0),
    ],
)
def test_points_multiply_rate_member_day_and_tier_and_round_down(fen: int, tier: str, on: date, points: int) -> None:
    assert loyalty.points_for(fen, DEFAULT_RULES, tier, on) == points


def test_eligible_amount_skips_excluded_products_and_rx_only_when_configured() -> None:
    lines = [EligibleLine(1000), EligibleLine(2000, rx=True), EligibleLine(500, points_excluded=True)]
    assert loyalty.eligible_amount(lines) == 3000
    assert loyalty.eligible_amount(lines, LoyaltyRules(exclude_rx=True)) == 1000


@pytest.mark.parametrize(
    ("earned", "last_day"),
    [
        (date(2026, 3, 15), date(2027, 3, 31)),
        (date(2026, 1, 1), date(2027, 1, 31)),
        (date(2026, 12, 31), date(2027, 12, 31)),
        (date(2027, 2, 10), date(2028, 2, 29)),
    ],
)
def test_points_expire_at_the_end_of_the_twelfth_month_after_earning(earned: date, last_day: date) -> None:
    assert loyalty.expiry_for(earned) == last_day


def test_the_tier_follows_the_spend_thresholds() -> None:
    assert [DEFAULT_RULES.tier_for_spend(f) for f in (0, 199_999, 200_000, 500_000, 1_000_000)] == [
        "regular",
        "regular",
        "silver",
        "gold",
        "diamond",
    ]


def test_the_rules_form_rejects_bad_values_field_by_field() -> None:
    form = loyalty.rules_form(DEFAULT_RULES)
    assert loyalty.parse_rules(form) == DEFAULT_RULES
    with pytest.raises(ValidationFailed) as exc:
        loyalty.parse_rules({**form, "points_per_yuan": "x", "gold_multiplier": "0.5", "silver_yuan": "-3"})
    assert set(exc.value.errors) == {"points_per_yuan", "gold_multiplier", "silver_yuan"}
    with pytest.raises(ValidationFailed) as exc:
        loyalty.parse_rules({**form, "gold_yuan": "20000"})
    assert "gold_yuan" in exc.value.errors


async def test_saved_rules_change_earning_and_are_audited() -> None:
    admin = await actor("admin")
    new = LoyaltyRules(points_per_yuan=2, member_day=0)
    assert await loyalty.save_rules(new, admin) == ["points_per_yuan", "member_day"]
    assert await loyalty.rules() == new
    assert await loyalty.save_rules(new, admin) == []
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", loyalty.RULES_CHANGE)
    assert len(audited) == 1 and "points_per_yuan: 1 → 2" in audited[0]["detail"]
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 8)) == 200  # no member day any more, rate 2


# ---------------------------------------------------------------- the ledger


async def test_earning_is_idempotent_by_sale_and_the_cache_follows_the_ledger() -> None:
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await loyalty.balance(member) == 100
    rows = await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    assert len(rows) == 1 and rows[0]["kind"] == "earn"
    assert loyalty._as_date(rows[0]["expires_on"]) == date(2027, 3, 31)
    assert await loyalty.check_balances() == []


async def test_check_balances_finds_a_cache_that_drifted() -> None:
    member = await _member()
    await _earn(member, "S1", 10_000, date(2026, 3, 15))
    await fetch("UPDATE member_loyalty SET balance = 7 WHERE member = {}", member)
    assert [(r["member"], r["cached"], r["ledger"]) for r in await loyalty.check_balances()] == [(member, 7, 100)]


async def test_redeeming_pays_fen_and_cannot_overdraw() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await _redeem(member, 300, "S2") == 300  # 100 points = ¥1
    assert await _redeem(member, 300, "S2") == 300  # a retry of the same sale takes nothing more
    assert await loyalty.balance(member) == 200
    with pytest.raises(ValidationFailed) as exc:
        await _redeem(member, 201, "S3")
    assert "200" in exc.value.errors["points"]
    with pytest.raises(ValidationFailed):
        await _redeem(member, 0, "S4")
    assert await loyalty.balance(member) == 200


async def test_gifts_take_points_once_per_key() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.balance(member) == 380


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_redemptions_never_take_the_balance_below_zero(round_: int) -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))  # 500 points

    async def attempt(i: int) -> bool:
        try:
            await _redeem(member, 200, f"R{round_}-{i}")
            return True
        except ValidationFailed:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sum(results) == 2
    assert await loyalty.balance(member) == 100
    assert await loyalty.check_balances() == []


# ---------------------------------------------------------------- returns


async def test_a_return_restores_redeemed_points_and_reverses_earned_ones() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 100, "S2")
    await _earn(member, "S2", 20_000, date(2026, 4, 15))  # 200 → balance 400
    async with transaction():
        result = await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor())
    assert result == (200, 100)
    async with transaction():  # a retry changes nothing
        assert await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor()) == (200, 100)
    assert await loyalty.balance(member) == 300
    rows = {
        r["kind"]: r for r in await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    }
    assert loyalty._as_date(rows["reverse"]["expires_on"]) == date(2027, 4, 30)  # the sale's own lot
    assert loyalty._as_date(rows["restore"]["expires_on"]) == loyalty.expiry_for(clock.store_today())
    assert await loyalty.check_balances() == []


async def test_a_return_never_takes_the_balance_below_zero() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 250, "S9")
    async with transaction():
        reversed_, restored = await loyalty.reverse_for_return(member, "S1", "T1", 300, 0, None, await actor())
    assert (reversed_, restored) == (50, 0)  # the 250 shortfall is simply not reversed
    assert await loyalty.balance(member) == 0


async def test_a_return_cannot_reverse_more_than_the_sale_earned() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))
    await _earn(member, "S2", 30_000, date(2026, 3, 16))
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T1", 200, 0, None, None) == (200, 0)
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T2", 200, 50, None, None) == (100, 0)
    assert await loyalty.balance(member) == 300


# ---------------------------------------------------------------- expiry


async def test_expiry_takes_only_unused_points_of_old_lots_and_runs_once() -> None:
    member = await _member()
    other = await _member("其他")
    await _earn(member, "S1", 30_000, date(2025, 1, 10))  # 300, last day 2026-01-31
    await _earn(member, "S2", 20_000, date(2025, 6, 10))  # 200, last day 2026-06-30
    await _redeem(member, 120, "S3")  # taken from the oldest lot
    await _earn(other, "S4", 10_000, date(2025, 12, 1))  # not yet expired
    assert await loyalty.expiring(member, date(2026, 1, 15)) == [(date(2026, 1, 31), 180), (date(2026, 6, 30), 200)]
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.expire_points(date(2026, 2, 1)) == 0
    assert await loyalty.balance(member) == 200
    assert await loyalty.balance(other) == 100
    assert await loyalty.expiring(member, date(2026, 2, 1)) == [(date(2026, 6, 30), 200)]
    await _redeem(member, 50, "S5")
    assert await loyalty.expire_points(date(2026, 7, 1)) == 1
    assert await loyalty.balance(member) == 0
    assert await loyalty.expire_points(date(2026, 7, 2)) == 0
    assert await loyalty.check_balances() == []
    statement = await loyalty.statement(member, today=date(2026, 7, 2))
    assert [e["kind"] for e in statement.entries][:2] == ["expire", "redeem"]
    assert statement.balance == 0 and statement.expiring == []


async def test_a_reversed_lot_expires_only_what_is_left() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2025, 1, 10))
    async with transaction():
        await loyalty.reverse_for_return(member, "S1", "T1", 100, 0, None, None)
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.balance(member) == 0


# ---------------------------------------------------------------- tiers


async def test_earning_upgrades_the_tier_at_once_from_rolling_spend() -> None:
    member = await _member()
    await past_sale(member, "OLD", 900_000, days_ago=400)  # outside the 12 months
    await past_sale(member, "S1", 150_000, days_ago=30)
    assert await _earn(member, "S1", 150_000, date(2026, 3, 15)) == 1500
    assert await loyalty.tier_of(member) == "regular"
    await past_sale(member, "S2", 60_000)
    assert await _earn(member, "S2", 10_000, date(2026, 3, 15)) == 120  # silver already applies to this sale
    assert await loyalty.tier_of(member) == "silver"
    await past_sale(member, "S3", 1_000)
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # still silver: the tier's date stays
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # a retry credits nothing more
    row = (await fetch("SELECT tier_since, balance FROM member_loyalty WHERE member = {}", member))[0]
    assert str(row["tier_since"]) == "2026-03-15" and row["balance"] == 1500 + 120 + 12


async def test_the_yearly_review_downgrades_set_based_and_only_once_a_year() -> None:
    spender, idle = await _member("常客"), await _member("沉睡")
    await past_sale(spender, "S1", 600_000, days_ago=10)
    await _earn(spender, "S1", 1000, date(2026, 3, 15))
    await _earn(idle, "S0", 1000, date(2026, 3, 15))
    last_year = date(2025, 6, 1)
    await fetch("UPDATE member_loyalty SET tier = 'diamond', reviewed_on = {}", last_year)
    today = date(2026, 1, 2)
    assert await loyalty.review_tiers(today) == 2
    tiers = {r["member"]: r["tier"] for r in await fetch("SELECT member, tier FROM member_loyalty")}
    assert tiers == {spender: "gold", idle: "regular"}
    await fetch("UPDATE member_loyalty SET tier = 'diamond' WHERE member = {}", idle)
    assert await loyalty.review_tiers(today) == 0  # already reviewed this year
    assert await loyalty.tier_of(idle) == "diamond"


def test_the_review_date_is_configurable() -> None:
    r = LoyaltyRules(review_month=4, review_day=1)
    assert r.last_review(date(2026, 3, 31)) == date(2025, 4, 1)
    assert r.last_review(date(2026, 4, 1)) == date(2026, 4, 1)


# ---------------------------------------------------------------- the ledger property


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 40_000), st.integers(0, 500)),
        st.tuples(st.just("redeem"), st.integers(1, 600), st.just(0)),
        st.tuples(st.just("return"), st.integers(0, 400), st.integers(0, 400)),
        st.tuples(st.just("expire"), st.integers(0, 500), st.just(0)),
    ),
    max_size=12,
)


@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_any_sequence_keeps_balance_equal_to_the_ledger_and_never_negative(ops: list[tuple]) -> None:
    member = await _member("性质")
    start = date(2025, 1, 1)
    sales: list[str] = []
    for n, (op, a, b) in enumerate(ops):
        if op == "earn":
            sales.append(f"P{member}-{n}")
            await _earn(member, sales[-1], a, start + timedelta(days=b))
        elif op == "redeem":
            try:
                await _redeem(member, a, f"P{member}-{n}")
                sales.append(f"P{member}-{n}")
            except ValidationFailed:
                pass
        elif op == "return" and sales:
            async with transaction():
                reversed_, restored = await loyalty.reverse_for_return(
                    member, sales[a % len(sales)], f"T{member}-{n}", a, b, None, None
                )
            assert reversed_ >= 0 and restored >= 0
        elif op == "expire":
            await loyalty.expire_points(start + timedelta(days=a * 2))
        total = await loyalty.balance(member)
        assert total >= 0
        cached = await fetch("SELECT balance FROM member_loyalty WHERE member = {}", member)
        assert not cached or cached[0]["balance"] == total
        # What the member is shown as expiring (same FIFO) accounts for every point of the balance.
        assert sum(p for _d, p in await loyalty.expiring(member, start)) == total
    assert await loyalty.check_balances() == []


# ---------------------------------------------------------------- edges (what mutation testing found untested)

FORM = loyalty.rules_form(DEFAULT_RULES)


def _form_errors(**fields: str) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        loyalty.parse_rules({**FORM, **fields})
    return exc.value.errors


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("points_per_yuan", 0, 100),
        ("member_day", 0, 28),
        ("redeem_points_per_yuan", 1, 10_000),
        ("review_month", 1, 12),
        ("review_day", 1, 28),
    ],
)
def test_the_rules_form_takes_whole_numbers_within_each_fields_bounds(name: str, low: int, high: int) -> None:
    assert getattr(loyalty.parse_rules({**FORM, name: str(low)}), name) == low
    assert getattr(loyalty.parse_rules({**FORM, name: f" {high} "}), name) == high
    message = f"Enter a whole number from {low} to {high}."
    for bad in (str(high + 1), "1.5", "", "-1", *([str(low - 1)] if low else [])):
        with use_language("en"):
            assert _form_errors(**{name: bad}) == {name: message}, bad


def test_every_field_of_the_rules_form_round_trips() -> None:
    rules = LoyaltyRules(
        points_per_yuan=3,
        exclude_rx=True,
        member_day=15,
        member_day_pct=250,
        redeem_points_per_yuan=50,
        silver_fen=150_050,
        gold_fen=400_000,
        diamond_fen=900_000,
        silver_pct=110,
        gold_pct=175,
        diamond_pct=225,
        review_month=7,
        review_day=28,
    )
    assert loyalty.parse_rules(loyalty.rules_form(rules)) == rules
    # A threshold saved with fen comes back with them (the form used to show whole yuan and lose the fen on the
    # next save), a whole one without.
    assert (loyalty.rules_form(rules)["silver_yuan"], loyalty.rules_form(rules)["gold_yuan"]) == ("1500.50", "4000")
    for on in ("1", "on", "true", "yes"):
        assert loyalty.parse_rules({**FORM, "exclude_rx": on}).exclude_rx is True
    assert loyalty.parse_rules({**FORM, "exclude_rx": ""}).exclude_rx is False
    assert loyalty.parse_rules({k: v for k, v in FORM.items() if k != "exclude_rx"}).exclude_rx is False


@pytest.mark.parametrize(
    ("text", "pct"), [("1", 100), ("10", 1000), ("×1.5", 150), ("x2", 200), ("1.25", 125), (" 3.05 ", 305)]
)
def test_multipliers_from_one_to_ten_with_two_decimals(text: str, pct: int) -> None:
    form = {**FORM, "silver_multiplier": text, "gold_multiplier": "10", "diamond_multiplier": "10"}
    assert loyalty.parse_rules(form).silver_pct == pct


@pytest.mark.parametrize("text", ["0.99", "10.01", "1.234", "0", "abc", ""])
def test_a_multiplier_outside_one_to_ten_or_finer_than_a_percent_is_refused(text: str) -> None:
    with use_language("en"):
        assert _form_errors(diamond_multiplier=text) == {
            "diamond_multiplier": "Enter a multiplier from 1 to 10, e.g. 1.5."
        }


def test_tier_multipliers_may_stay_level_but_never_fall() -> None:
    level = loyalty.parse_rules(
        {**FORM, "silver_multiplier": "1.5", "gold_multiplier": "1.5", "diamond_multiplier": "1.5"}
    )
    assert (level.silver_pct, level.gold_pct, level.diamond_pct) == (150, 150, 150)
    with use_language("en"):
        falling = "Multipliers must not fall from silver to gold to diamond."
        assert _form_errors(silver_multiplier="1.6", gold_multiplier="1.5") == {"gold_multiplier": falling}
        assert _form_errors(gold_multiplier="1.5", diamond_multiplier="1.4") == {"gold_multiplier": falling}


def test_spend_thresholds_in_yuan_must_rise_strictly() -> None:
    rules = loyalty.parse_rules({**FORM, "silver_yuan": "0", "gold_yuan": "¥2,000.50", "diamond_yuan": "2000.51"})
    assert (rules.silver_fen, rules.gold_fen, rules.diamond_fen) == (0, 200_050, 200_051)
    with use_language("en"):
        rising = {"gold_yuan": "Thresholds must rise: silver below gold below diamond."}
        assert _form_errors(silver_yuan="5000", gold_yuan="5000") == rising
        assert _form_errors(gold_yuan="10000", diamond_yuan="10000") == rising
        amount = "Enter an amount in yuan, e.g. 2000."
        for bad in ("-0.01", "2000.001", "abc", ""):
            assert _form_errors(silver_yuan=bad) == {"silver_yuan": amount}, bad


@pytest.mark.parametrize(
    ("rate", "ok"), [(1, True), (50, True), (100, True), (200, True), (10_000, True), (30, False), (150, False)]
)
def test_a_point_is_worth_whole_fen_or_a_fen_whole_points(rate: int, ok: bool) -> None:
    form = {**FORM, "redeem_points_per_yuan": str(rate)}
    if ok:
        assert loyalty.parse_rules(form).redeem_points_per_yuan == rate
    else:
        with use_language("en"):
            assert _form_errors(redeem_points_per_yuan=str(rate)) == {
                "redeem_points_per_yuan": "Use a divisor or a multiple of 100 (e.g. 50, 100, 200)."
            }


def test_stored_rules_are_read_from_text_or_json_and_unknown_keys_ignored() -> None:
    assert loyalty.rules_from(None) == DEFAULT_RULES
    assert loyalty.rules_from('{"points_per_yuan": 3, "retired": 1}') == LoyaltyRules(points_per_yuan=3)
    assert loyalty.rules_from({"member_day": 0}) == LoyaltyRules(member_day=0)  # PostgreSQL hands JSON over parsed


def test_points_round_down_even_for_large_and_tiny_amounts() -> None:
    assert loyalty.points_for(999_999, DEFAULT_RULES, "regular", date(2026, 3, 15)) == 9_999  # ¥9,999.99
    generous = LoyaltyRules(points_per_yuan=100)
    assert loyalty.points_for(1, generous, "regular", date(2026, 3, 15)) == 1  # a fen at 100 points per yuan
    assert loyalty.points_for(0, generous, "diamond", date(2026, 3, 8)) == 0
    no_day = LoyaltyRules(member_day=0)
    assert loyalty.points_for(10_000, no_day, "regular", date(2026, 3, 8)) == 100  # day 0: no member day


def test_a_line_that_is_free_or_credited_earns_nothing_and_takes_nothing() -> None:
    assert loyalty.eligible_amount([EligibleLine(1000), EligibleLine(0), EligibleLine(-200)]) == 1000
    assert loyalty.eligible_amount([EligibleLine(0)]) == 0


def test_the_expiry_schedule_leaves_out_fully_used_lots() -> None:
    d1, d2, d3 = date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)
    assert loyalty.fifo_remaining([(d3, 1), (d1, 100), (d2, 50)], 150) == [(d3, 1)]
    assert loyalty.fifo_remaining([(d1, 100), (d2, 50)], 0) == [(d1, 100), (d2, 50)]
    assert loyalty.fifo_remaining([(d1, -5), (d2, 10)], 3) == [(d2, 7)]  # a lot reversed below zero gives nothing


async def test_points_used_up_leave_no_lot_in_the_schedule_and_the_last_day_still_counts() -> None:
    member = await _member()
    await _earn(member, "S1", 10_000, date(2026, 1, 10))  # 100, last day 2027-01-31
    await _earn(member, "S2", 5_000, date(2026, 2, 10))  # 50, last day 2027-02-28
    await _redeem(member, 100, "S3")
    assert await loyalty.expiring(member, date(2026, 3, 1)) == [(date(2027, 2, 28), 50)]
    assert await loyalty.expiring(member, date(2027, 2, 28)) == [(date(2027, 2, 28), 50)]  # its last day
    assert await loyalty.expiring(member, date(2027, 3, 1)) == []


async def test_the_wallet_shows_points_tier_and_what_expires_soon() -> None:
    member = await _member()
    empty = await loyalty.wallet(member, date(2026, 3, 1))
    assert (empty.balance, empty.tier, empty.expiring, empty.balance_fen) == (0, "regular", [], 0)
    await _earn(member, "S1", 10_000, date(2025, 3, 10))  # 100, last day 2026-03-31
    await _earn(member, "S2", 20_000, date(2025, 4, 10))  # 200, last day 2026-04-30
    await _earn(member, "S3", 40_000, date(2025, 9, 10))  # 400, last day 2026-09-30
    await _redeem(member, 150, "S4")  # the March lot, then 50 of April's
    await fetch("UPDATE member_loyalty SET tier = 'gold' WHERE member = {}", member)
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=50), await actor("admin"))
    w = await loyalty.wallet(member, date(2026, 3, 1), soon_days=60)  # soon: up to 2026-04-30
    assert (w.balance, w.tier, w.redeem_points_per_yuan) == (550, "gold", 50)
    assert w.expiring == [(date(2026, 4, 30), 150)]
    assert w.balance_fen == 1100  # 550 points at 50 a yuan
    assert (await loyalty.wallet(member, date(2026, 3, 1), soon_days=59)).expiring == []
    assert (await loyalty.wallet(member, date(2026, 5, 1), soon_days=365)).expiring == [(date(2026, 9, 30), 400)]
    on_the_last_day = await loyalty.wallet(member, date(2026, 4, 30), soon_days=0)
    assert on_the_last_day.expiring == [(date(2026, 4, 30), 150)]  # still usable today


async def test_a_sale_earning_no_points_writes_no_entry_and_one_point_is_credited() -> None:
    member = await _member()
    assert await _earn(member, "S1", 99, date(2026, 3, 15)) == 0  # ¥0.99
    assert await fetch("SELECT id FROM points_entry WHERE member = {}", member) == []
    assert await _earn(member, "S2", 100, date(2026, 3, 15)) == 1
    assert await loyalty.balance(member) == 1 and await loyalty.check_balances() == []


async def test_a_retried_sale_reports_the_points_it_earned_even_after_the_rules_changed() -> None:
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 8)) == 200  # member day
    await loyalty.save_rules(LoyaltyRules(member_day=0), await actor("admin"))
    assert await _earn(member, "S1", 10_000, date(2026, 3, 8)) == 200
    await loyalty.save_rules(LoyaltyRules(member_day=0, points_per_yuan=3), await actor("admin"))
    assert await _earn(member, "S2", 100, date(2026, 3, 9)) == 3  # ¥1 at 3 points a yuan
    await loyalty.save_rules(LoyaltyRules(member_day=0, points_per_yuan=1), await actor("admin"))
    assert await _earn(member, "S2", 100, date(2026, 3, 9)) == 3  # the rules would give 1 now
    await loyalty.save_rules(LoyaltyRules(member_day=0, points_per_yuan=0), await actor("admin"))
    assert await _earn(member, "S2", 100, date(2026, 3, 9)) == 3  # and none at all now (answered 0 before)
    assert await _earn(member, "S3", 100, date(2026, 3, 9)) == 0  # a new sale earns none
    assert await loyalty.balance(member) == 203


async def test_an_upgrade_on_a_sale_without_points_keeps_the_cached_balance() -> None:
    member = await _member()
    await _earn(member, "S0", 1_000, date(2026, 3, 1))  # 10 points
    await past_sale(member, "S1", 250_000, days_ago=1)
    assert await _earn(member, "S1", 0, date(2026, 3, 15)) == 0  # e.g. only points-excluded items
    assert await loyalty.tier_of(member) == "silver"
    assert await loyalty.balance(member) == 10 and await loyalty.check_balances() == []


async def test_the_rolling_spend_for_an_upgrade_is_the_last_365_days() -> None:
    inside, outside = await _member("一年内"), await _member("一年外")
    await past_sale(inside, "A1", 200_000, days_ago=364.9)
    await past_sale(outside, "B1", 200_000, days_ago=365.1)
    assert await _earn(inside, "A2", 100, date(2026, 3, 15)) == 1
    assert await _earn(outside, "B2", 100, date(2026, 3, 15)) == 1
    assert (await loyalty.tier_of(inside), await loyalty.tier_of(outside)) == ("silver", "regular")


async def test_redeeming_in_steps_and_the_whole_balance() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))  # 500
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=200), await actor("admin"))
    assert await _redeem(member, 300, "S2") == 150  # 200 points a yuan: 300 points pay ¥1.50
    assert await _redeem(member, 300, "S2") == 150  # the retry answers the same fen
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await _redeem(member, 3, "S3")  # 1.5 fen
    assert exc.value.errors == {"points": "Redeem points in steps of 2."}
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=10_000), await actor("admin"))
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await _redeem(member, 50, "S4")
    assert exc.value.errors == {"points": "Redeem points in steps of 100."}
    assert await _redeem(member, 200, "S5") == 2  # the whole balance
    assert await loyalty.balance(member) == 0


async def test_a_gift_takes_one_point_or_more_is_audited_and_names_it_whole() -> None:
    member = await _member()
    await _earn(member, "S1", 1_000, date(2026, 3, 15))  # 10
    clerk = await actor("clerk")
    assert await loyalty.redeem_gift(member, 1, "贴纸", "g1", clerk) == 1
    name = "保" * 40
    assert await loyalty.redeem_gift(member, 3, name, "g2", clerk) == 3
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await loyalty.redeem_gift(member, 1, name + "杯", "g3", clerk)
    assert exc.value.errors == {"gift": "Name the gift (at most 40 characters)."}
    with pytest.raises(ValidationFailed):
        await loyalty.redeem_gift(member, 1, "  ", "g4", clerk)
    rows = await fetch("SELECT ref, store, staff FROM points_entry WHERE kind = 'gift' ORDER BY id")
    assert [r["ref"] for r in rows] == ["贴纸", name]
    assert {(r["store"], r["staff"]) for r in rows} == {(clerk.store_id, clerk.id)}
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {} ORDER BY id", loyalty.GIFT_REDEEM)
    assert [a["detail"] for a in audited] == ["贴纸: 1", f"{name}: 3"]
    assert await loyalty.balance(member) == 6


async def test_a_retried_return_that_only_restored_or_only_reversed_changes_nothing() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 100, "S2")
    await _earn(member, "S2", 20_000, date(2026, 4, 15))  # 200
    for _ in range(2):
        async with transaction():
            assert await loyalty.reverse_for_return(member, "S2", "T1", 0, 60, None, None) == (0, 60)
        async with transaction():
            assert await loyalty.reverse_for_return(member, "S2", "T2", 50, 0, None, None) == (50, 0)
    kinds = [r["kind"] for r in await fetch("SELECT kind FROM points_entry WHERE ref = 'S2' ORDER BY id")]
    assert kinds == ["redeem", "earn", "restore", "reverse"]  # no zero-point entries
    async with transaction():  # never more restored than was redeemed on the sale
        assert await loyalty.reverse_for_return(member, "S2", "T3", 0, 100, None, None) == (0, 40)
    assert await loyalty.balance(member) == 300 - 100 + 200 + 60 - 50 + 40


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


async def test_the_yearly_review_counts_spend_of_exactly_365_days_and_records_its_day() -> None:
    member = await _member()
    sale = await past_sale(member, "S1", 600_000, days_ago=30)
    await _earn(member, "S0", 100, date(2026, 3, 15))  # gold at once
    await fetch("UPDATE member_loyalty SET tier = 'regular', reviewed_on = NULL WHERE member = {}", member)
    created = (await fetch("SELECT created_at FROM sale WHERE id = {}", sale))[0]["created_at"]
    created = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    today = date(2031, 1, 5)
    assert await loyalty.review_tiers(today, now=created + timedelta(days=365)) == 1
    row = (await fetch("SELECT tier, reviewed_on FROM member_loyalty WHERE member = {}", member))[0]
    assert (row["tier"], loyalty._as_date(row["reviewed_on"])) == ("gold", today)
    await fetch("UPDATE member_loyalty SET tier = 'regular', reviewed_on = NULL WHERE member = {}", member)
    assert await loyalty.review_tiers(today, now=created + timedelta(days=365, seconds=1)) == 0  # a year and a second
    assert await loyalty.tier_of(member) == "regular"


def test_a_review_day_late_in_february() -> None:
    r = LoyaltyRules(review_month=2, review_day=28)
    assert r.last_review(date(2026, 3, 1)) == date(2026, 2, 28)
    assert r.last_review(date(2026, 2, 27)) == date(2025, 2, 28)


def test_a_date_read_back_as_text_is_the_date() -> None:
    # Drivers hand dates back as date objects or as ISO text (with a time part, for some column types).
    assert loyalty._as_date("2026-03-31") == date(2026, 3, 31)
    assert loyalty._as_date("2026-03-31 00:00:00") == date(2026, 3, 31)
    assert loyalty._as_date(None) is None
