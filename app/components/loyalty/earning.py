"""Earning points on a sale: the eligible amount (excluded products never, Rx only when the rules allow), rate ×
member day × tier multipliers rounded down, one entry per sale that lasts until the end of its 12th month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.components.core.actor import StaffUser
from app.components.loyalty import queries
from app.components.loyalty.expiry import expiry_for
from app.components.loyalty.ledger import write
from app.components.loyalty.rules import DEFAULT_RULES, LoyaltyRules, rules
from app.components.loyalty.tiers import TIERS


def points_for(amount_fen: int, r: LoyaltyRules, tier: str, on_date: date) -> int:
    """Points for an eligible amount: rate × member-day × tier multipliers, multiplied together, rounded down."""
    if amount_fen <= 0:
        return 0
    day_pct = r.member_day_pct if r.member_day and on_date.day == r.member_day else 100
    # fen × points/yuan × pct × pct, over 100 (fen per yuan) × 100 × 100 — integers only, so no float drift.
    return amount_fen * r.points_per_yuan * day_pct * r.tier_pct(tier) // 1_000_000


@dataclass(frozen=True)
class EligibleLine:
    """What `eligible_amount` needs of a sale line: its amount after discounts and coupons, and its flags."""

    amount_fen: int
    rx: bool = False
    points_excluded: bool = False


def eligible_amount(lines: list[EligibleLine], r: LoyaltyRules = DEFAULT_RULES) -> int:
    """The amount that earns points: excluded products never, Rx items only when the rules allow."""
    return sum(max(0, line.amount_fen) for line in lines if not line.points_excluded and not (r.exclude_rx and line.rx))


async def earn(
    member_id: int,
    sale_no: str,
    eligible_fen: int,
    on_date: date,
    store_id: int | None,
    actor: StaffUser | None,
    known_rules: LoyaltyRules | None = None,
) -> int:
    """(in txn) Credit the points of a sale (key earn:{sale_no}, idempotent); upgrade the tier first if the rolling
    12-month spend (this sale included: call it after writing the sale) reaches a higher one. Returns the points.

    `known_rules`: the rules the sale was quoted with (read here when not given). Three statements: the locked
    loyalty row with the rolling spend, the entry, and the balance (with the tier) in one update."""
    r = known_rules or await rules()
    row = await queries.lock_member(member_id, on_date, spend_since=datetime.now(UTC) - timedelta(days=365))
    tier = row["tier"]
    reached = r.tier_for_spend(int(row["spend"] or 0))
    upgraded = TIERS.index(reached) > TIERS.index(tier)
    if upgraded:
        tier = reached  # upgrades apply at once, to this sale too; downgrades wait for the yearly review
    key = f"earn:{sale_no}"
    points = points_for(eligible_fen, r, tier, on_date)
    written = points > 0 and await write(
        member_id, "earn", points, sale_no, key, expiry_for(on_date), store_id, actor, move_balance=False
    )
    if not written:  # a retry of the same sale (even one the rules now give no points): its entry stands
        existing = await queries.entry(key)
        points = int(existing["points"]) if existing else 0
    if upgraded or written:
        await queries.move_balance_and_tier(member_id, points if written else 0, tier, on_date)
    return points
