"""What `make mutation` mutates (module → functions or regions of them) and with which tests, and the reviewed list of
surviving mutants that are equivalent (no test can tell them from the original: same behaviour) or not observable."""

from __future__ import annotations

from dataclasses import dataclass, field

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
                "app/components/allergy_check.py",
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
            ("app/components/allergens.py", _all("severe_reaction", "risk_of", "risk_basis_label")),
        ),
        ("tests/components/test_allergy_check.py",),
    ),
    Module(
        "scanning",
        (
            (
                "app/components/barcodes.py",
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
        ("tests/components/test_barcodes.py", "tests/components/test_barcodes_gs1.py"),
    ),
    Module(
        "loyalty",
        (
            (
                "app/components/loyalty.py",
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
                    "points_for",
                    "eligible_amount",
                    "expiry_for",
                    "redeem_value",
                    "_as_date",
                    "fifo_remaining",
                    "_write",
                    "earn",
                    "redeem_gift",
                    "_spend",
                    "reverse_for_return",
                    "expiring",
                    "statement",
                    "Wallet.balance_fen",
                    "wallet",
                    "expire_points",
                    "review_tiers",
                ),
            ),
        ),
        ("tests/components/test_loyalty.py",),
    ),
    Module(
        "sale totals",
        (
            (
                "app/components/sales.py",
                (
                    Target("QuoteLine.gross"),
                    Target("Quote.due"),
                    Target("_coupon_lines"),
                    Target("_eligible"),
                    Target("_exclude_rx"),
                    Target("_points_for_fen"),
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
                "app/components/coupons.py",
                (
                    Target("CouponResult.total"),
                    Target("share"),
                    Target("evaluate", (("left = {line.line_no", "applied: list"), ("in_scope = sum(", None))),
                ),
            ),
        ),
        ("tests/components/test_sales.py", "tests/components/test_coupons.py"),
    ),
)


@dataclass(frozen=True)
class Equivalent:
    """A reviewed surviving mutant: file, the line (where it was reviewed), the change as the report words it, the
    stripped text of the line, and why no test can kill it. Matched on file, change and line text, so it survives
    edits that only move the line."""

    file: str
    line: int
    change: str
    source: str
    reason: str
    notes: tuple[str, ...] = field(default=())


EQUIVALENT: tuple[Equivalent, ...] = ()
