"""The loyalty rules and the manager form: every field bounded, round-trips exactly, saved with an audit."""

from __future__ import annotations

from datetime import date

import pytest

from app.components import loyalty
from app.components.core.errors import ValidationFailed
from app.components.loyalty import DEFAULT_RULES, LoyaltyRules
from app.db import fetch
from app.i18n import use_language
from tests.components.loyalty.loyalty_data import FORM, _earn, _member
from tests.conftest import actor


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


def test_the_review_date_is_configurable() -> None:
    r = LoyaltyRules(review_month=4, review_day=1)
    assert r.last_review(date(2026, 3, 31)) == date(2025, 4, 1)
    assert r.last_review(date(2026, 4, 1)) == date(2026, 4, 1)


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


def test_a_review_day_late_in_february() -> None:
    r = LoyaltyRules(review_month=2, review_day=28)
    assert r.last_review(date(2026, 3, 1)) == date(2026, 2, 28)
    assert r.last_review(date(2026, 2, 27)) == date(2025, 2, 28)
