"""What `make mutation` mutates (module → functions or regions of them) and with which tests, and the reviewed list of
surviving mutants that are equivalent (no test can tell them from the original: same behaviour) or not observable."""

from __future__ import annotations

from dataclasses import dataclass

from tests.mutation.mutator import Target


@dataclass(frozen=True)
class Module:
    """One safety-critical area: the files and functions mutated, and the test files that are its own tests."""

    name: str
    parts: tuple[tuple[str, tuple[Target, ...]], ...]  # (file, targets)
    tests: tuple[str, ...]
    threshold: float = 0.95  # kill rate wanted, equivalent mutants left out


def _all(*names: str) -> tuple[Target, ...]:
    return tuple(Target(n) for n in names)


MODULES: tuple[Module, ...] = (
    Module(
        "allergies",
        (
            (
                "app/components/allergies/check.py",
                _all(
                    "RecordedAllergy.risk",
                    "AllergyAlert.action",
                    "load_rules",
                    "rules",
                    "_same",
                    "_action_label",
                    "_message",
                    "_alert",
                    "_stronger",
                    "check_line",
                    "blocks_checkout",
                    "needs_acknowledgement",
                ),
            ),
            ("app/components/allergies/vocabulary.py", _all("severe_reaction", "risk_of", "risk_basis_label")),
            ("app/components/allergies/record.py", _all("validate_allergy", "status_after_change")),
        ),
        ("tests/components/allergies/test_check.py", "tests/components/allergies/test_record.py"),
    ),
    Module(
        "scanning",
        (
            (
                "app/components/scanning/barcodes.py",
                _all(
                    "Scan.ai",
                    "gs1_check_digit",
                    "has_valid_check_digit",
                    "synthetic_gtin13",
                    "_split",
                    "scanned_text",
                    "_gtin14",
                    "_expiry",
                    "_field_error",
                    "_unknown_ai",
                    "_ai_at",
                    "_patterns",
                    "_checked",
                    "_elements_from_string",
                    "_elements_from_brackets",
                    "_gs1",
                    "_traceability",
                    "_identified",
                    "parse_scan",
                ),
            ),
        ),
        ("tests/components/scanning/test_barcodes.py", "tests/components/scanning/test_barcodes_gs1.py"),
    ),
    Module(
        "loyalty",
        (
            (
                "app/components/loyalty/rules.py",
                _all(
                    "LoyaltyRules.tier_pct",
                    "LoyaltyRules.tier_for_spend",
                    "LoyaltyRules.last_review",
                    "_safe_date",
                    "rules_from",
                    "_parse_multiplier",
                    "_parse_yuan",
                    "multiplier_text",
                    "_yuan_text",
                    "rules_form",
                    "parse_rules",
                    "save_rules",
                ),
            ),
            ("app/components/loyalty/earning.py", _all("points_for", "eligible_amount", "earn")),
            ("app/components/loyalty/expiry.py", _all("expiry_for", "fifo_remaining", "expiring", "expire_points")),
            ("app/components/loyalty/ledger.py", _all("write")),
            ("app/db/values.py", _all("as_date")),  # the lots' expiry dates as the engine hands them back
            ("app/components/loyalty/redemption.py", _all("redeem_value", "redeem_gift", "_spend")),
            ("app/components/loyalty/returns.py", _all("reverse_for_return")),
            ("app/components/loyalty/statement.py", _all("statement", "Wallet.balance_fen", "wallet")),
            ("app/components/loyalty/tiers.py", _all("review_tiers")),
        ),
        (
            "tests/components/loyalty/test_rules.py",
            "tests/components/loyalty/test_earning.py",
            "tests/components/loyalty/test_expiry.py",
            "tests/components/loyalty/test_ledger.py",
            "tests/components/loyalty/test_redemption.py",
            "tests/components/loyalty/test_returns.py",
            "tests/components/loyalty/test_statement.py",
            "tests/components/loyalty/test_tiers.py",
            "tests/db/test_values.py",
        ),
    ),
    Module(
        "sale totals",
        (
            (
                "app/components/sales/quote.py",
                (
                    Target("QuoteLine.gross"),
                    Target("Quote.due"),
                    Target("_coupon_lines"),
                    Target("eligible"),
                    Target("exclude_rx"),
                    Target("points_for_fen"),
                    # quote: the tender checks, the line totals, the coupon shares, the totals, tenders and change.
                    Target(
                        "quote",
                        (
                            ("for i, tender in enumerate(req.tenders):", "if len(req.acknowledged)"),
                            ("lines = [", "blockers: list"),
                            ("# Coupons:", "# Approvers"),
                            ("# Totals and tenders.", None),
                        ),
                    ),
                ),
            ),
            (
                "app/components/coupons/discounts.py",
                (
                    Target("CouponResult.total"),
                    Target("share"),
                    Target("evaluate", (("left = {line.line_no", "applied: list"), ("in_scope = sum(", None))),
                ),
            ),
        ),
        (
            "tests/components/sales/test_quote.py",
            "tests/components/sales/test_sale.py",
            "tests/components/coupons/test_discounts.py",
        ),
    ),
)


@dataclass(frozen=True)
class Equivalent:
    """A reviewed surviving mutant: file, the line where it was reviewed, the change as the report words it, the
    stripped text of the line, why no test can kill it, and how many surviving mutants of that same text it covers
    (`count`). Matched on file, change and line text, so it survives edits that only move the line."""

    file: str
    line: int
    change: str
    source: str
    reason: str
    count: int = 1


_B, _S, _C = (f"app/components/{n}.py" for n in ("scanning/barcodes", "sales/quote", "coupons/discounts"))
_LR, _LE, _LD, _LS, _LT, _LST = (
    f"app/components/loyalty/{n}.py" for n in ("rules", "earning", "ledger", "redemption", "returns", "statement")
)
_NEVER_NEGATIVE = "line amounts are never negative (a line discount is bounded by the line): max(-1, x) == max(0, x)"
_DEFAULTS = (
    "a default for rules that are not there: quote computes points only for a member, whose rules (a LoyaltyRules,"
    " every field set, redeem_points_per_yuan ≥ 1 by the form) always come with it"
)

EQUIVALENT: tuple[Equivalent, ...] = (
    # scanning
    Equivalent(
        _B,
        112,
        "`0` → `-1`",
        "if not 0 <= serial < 10**10:",
        "serial −1 formats as '-000000001': the check digit's digits-only rule refuses it all the same",
    ),
    Equivalent(
        _B,
        160,
        "`or` → `and`",
        "if len(value) != 6 or not value.isascii() or not value.isdigit():",
        "(17) only reaches _expiry through biip's N6 pattern: always six ASCII digits",
    ),
    Equivalent(
        _B,
        161,
        "`raise _bad_expiry(value)` removed",
        "raise _bad_expiry(value)",
        "not reachable: (17) only reaches _expiry through biip's N6 pattern (six ASCII digits)",
    ),
    Equivalent(
        _B,
        170,
        "`12` → `13`",
        "if not 1 <= month <= 12 or not MINYEAR <= year <= MAXYEAR:",
        "biip's pattern for (17) already refuses months above 12",
    ),
    Equivalent(
        _B,
        223,
        "`0` → `1`",
        "if not _patterns(ai)[0].fullmatch(ai.ai + value):",
        "the second pattern is the first without its trailing $, which fullmatch makes irrelevant",
    ),
    Equivalent(
        _B,
        235,
        "`4` → `5`",
        "ai = _ai_at(rest[:4])",
        "no AI is longer than 4 digits: biip finds the same AI in the first 5 characters",
    ),
    Equivalent(
        _B,
        235,
        "`1` → `2`",
        "field = rest[len(ai.ai) :].split(GS, 1)[0]",
        "only the part before the first GS is kept: the split limit does not change it",
    ),
    # loyalty
    Equivalent(
        _LR,
        89,
        "`>` → `>=`",
        "if abs(float(text) * 100 - pct) > 1e-6 or not 100 <= pct <= 1000:",
        "a difference of exactly 1e-6 percent is not a number anyone can type (two decimals give ~1e-13, three 0.1)",
    ),
    Equivalent(
        _LR,
        101,
        "`>` → `>=`",
        "if value < 0 or abs(value * 100 - fen) > 1e-6:",
        "a difference of exactly 1e-6 fen is not a number anyone can type (two decimals give ~1e-13, three 0.1)",
    ),
    Equivalent(_LE, 19, "`<=` → `<`", "if amount_fen <= 0:", "0 fen computes 0 points by the formula too"),
    Equivalent(_LE, 19, "`0` → `-1`", "if amount_fen <= 0:", "0 fen computes 0 points by the formula too"),
    Equivalent(
        _LD,
        56,
        "`40` → `41`",
        "ref[:40],",
        "no ref is longer than 40: gift names are refused above 40, sale numbers have 14 characters",
    ),
    Equivalent(
        _LE,
        57,
        "`0` → `1`",
        'reached = r.tier_for_spend(int(row["spend"] or 0))',
        "the spend is COALESCE(SUM…, 0) − COALESCE(SUM…, 0): never NULL",
    ),
    Equivalent(
        _LE,
        57,
        "`0` → `-1`",
        'reached = r.tier_for_spend(int(row["spend"] or 0))',
        "the spend is COALESCE(SUM…, 0) − COALESCE(SUM…, 0): never NULL",
    ),
    Equivalent(
        _LE,
        58,
        "`>` → `>=`",
        "upgraded = TIERS.index(reached) > TIERS.index(tier)",
        "reaching the same tier then writes the same tier (tier_since kept by the CASE) and moves the balance by"
        " what was written anyway",
    ),
    Equivalent(
        _LS,
        53,
        "`1` → `2`",
        '{"points": _("Redeem points in steps of %(n)s.") % {"n": r.redeem_points_per_yuan // 100 or 1}}',
        "below 100 points a yuan the rate divides 100 (the form's rule), so no amount is refused and the"
        " message with `or 1` is never shown",
    ),
    Equivalent(
        _LS,
        53,
        "`1` → `0`",
        '{"points": _("Redeem points in steps of %(n)s.") % {"n": r.redeem_points_per_yuan // 100 or 1}}',
        "below 100 points a yuan the rate divides 100 (the form's rule), so no amount is refused and the"
        " message with `or 1` is never shown",
    ),
    Equivalent(
        _LS,
        55,
        "`await queries.lock_member(member_id, store_today())` removed",
        "await queries.lock_member(member_id, store_today())",
        "not observable on SQLite, whose IMMEDIATE transactions serialise writers anyway; on PostgreSQL"
        " test_concurrent_redemptions_never_take_the_balance_below_zero needs the row lock",
    ),
    Equivalent(
        _LS,
        58,
        "`-int(existing['points'])` → `int(existing['points'])`",
        'return redeem_value(-int(existing["points"]), r) if kind == "redeem" else -int(existing["points"])',
        "the gift branch's answer is not used: redeem_gift answers the points it was asked for",
    ),
    Equivalent(
        _LT,
        27,
        "`await queries.lock_member(member_id, today)` removed",
        "await queries.lock_member(member_id, today)",
        "not observable on SQLite, whose IMMEDIATE transactions serialise writers anyway (the row lock"
        " matters on PostgreSQL)",
    ),
    Equivalent(
        _LT,
        35,
        "`0` → `-1`",
        'restore = max(0, min(redeemed_points_to_restore, int(s["redeemed"]) - int(s["restored"])))',
        "every term is ≥ 0: return_sale asks for ≥ 0 points and a sale's restores never exceed its redemption",
    ),
    Equivalent(
        _LT,
        40,
        "`0` → `-1`",
        'reverse = max(0, min(earned_points_to_reverse, int(s["earned"]) - int(s["reversed"]), balance))',
        "every term is ≥ 0: return_sale asks for ≥ 0 points, reversals never exceed the earning, the balance"
        " never goes below 0",
    ),
    Equivalent(
        _LST,
        66,
        "`1` → `2`",
        "rows = await queries.entries_page(member_id, per_page + 1, (page - 1) * per_page)",
        "one extra row is only looked at to tell whether there is a next page; two extra tell the same",
    ),
    # sale totals
    Equivalent(
        _S,
        294,
        "`False` → `True`",
        'return bool(getattr(rules, "exclude_rx", False)) if rules is not None else False',
        _DEFAULTS,
        count=2,
    ),
    Equivalent(
        _S,
        299,
        "`100` → `101`",
        'per_yuan = int(getattr(rules, "redeem_points_per_yuan", 100) or 100) if rules is not None else 100',
        _DEFAULTS,
        count=3,
    ),
    Equivalent(
        _S,
        299,
        "`100` → `99`",
        'per_yuan = int(getattr(rules, "redeem_points_per_yuan", 100) or 100) if rules is not None else 100',
        _DEFAULTS,
        count=3,
    ),
    Equivalent(
        _S,
        351,
        "`True` → `False`",
        "for i, (req_line, product) in enumerate(zip(req.lines, products, strict=True))",
        "_resolve_lines gives one product per line (or raises): the lengths always match",
    ),
    Equivalent(
        _S,
        371,
        "`and` → `or`",
        "codes = [c.strip() for c in req.coupon_codes if c and c.strip()]",
        "a blank code then reaches coupons.evaluate as '', which it drops: same discount, errors and blockers",
    ),
    Equivalent(
        _S,
        529,
        "`and` → `or`",
        "if member is not None and points_tender:",
        "without a member a points tender is refused before; with one, a zero points tender needs 0 points",
    ),
    Equivalent(
        _S,
        553,
        "`and` → `or`",
        "if member is not None and rules is not None:",
        "a quote has its member and that member's rules together, or neither",
    ),
    Equivalent(
        _C,
        58,
        "`<=` → `<`",
        "if total <= 0 or amount <= 0:",
        "sharing 0 fen by the general formula gives 0 to every key as well (the `total` one is killed)",
    ),
    Equivalent(
        _C,
        58,
        "`0` → `-1`",
        "if total <= 0 or amount <= 0:",
        "sharing 0 fen by the general formula gives 0 to every key as well (the `total` one is killed)",
    ),
    Equivalent(
        _C, 99, "`0` → `-1`", "left = {line.line_no: max(0, line.amount_fen) for line in lines}", _NEVER_NEGATIVE
    ),
    Equivalent(_C, 142, "`0` → `-1`", "in_scope = sum(max(0, line.amount_fen) for line in scoped)", _NEVER_NEGATIVE),
    Equivalent(
        _C,
        164,
        "`0` → `-1`",
        "per_line = {line.line_no: max(0, line.amount_fen) - left[line.line_no] for line in lines}",
        _NEVER_NEGATIVE,
    ),
)
