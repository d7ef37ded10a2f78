"""Loyalty: the points ledger (earn, redeem, expire, reverse), member tiers and the chain's rules."""

from app.components.loyalty.earning import EligibleLine, earn, eligible_amount, points_for
from app.components.loyalty.expiry import expire_points, expiring, expiry_for, fifo_remaining
from app.components.loyalty.ledger import balance, check_balances, kind_label, refresh_cache
from app.components.loyalty.redemption import GIFT_REDEEM, redeem, redeem_gift, redeem_value
from app.components.loyalty.returns import reverse_for_return
from app.components.loyalty.rules import (
    DEFAULT_RULES,
    RULES_CHANGE,
    RULES_SETTING,
    LoyaltyRules,
    multiplier_text,
    parse_rules,
    rules,
    rules_form,
    rules_from,
    save_rules,
)
from app.components.loyalty.statement import PointsStatement, Wallet, statement, wallet
from app.components.loyalty.tiers import TIERS, review_tiers, tier_label, tier_of

__all__ = [
    "DEFAULT_RULES",
    "GIFT_REDEEM",
    "RULES_CHANGE",
    "RULES_SETTING",
    "TIERS",
    "EligibleLine",
    "LoyaltyRules",
    "PointsStatement",
    "Wallet",
    "balance",
    "check_balances",
    "earn",
    "eligible_amount",
    "expire_points",
    "expiring",
    "expiry_for",
    "fifo_remaining",
    "kind_label",
    "multiplier_text",
    "parse_rules",
    "points_for",
    "redeem",
    "redeem_gift",
    "redeem_value",
    "refresh_cache",
    "reverse_for_return",
    "review_tiers",
    "rules",
    "rules_form",
    "rules_from",
    "save_rules",
    "statement",
    "tier_label",
    "tier_of",
    "wallet",
]
