"""What a member sees of their loyalty: the points statement (entries, one page; what expires when) and the
counter's wallet (points, tier, lots expiring soon, usable coupons) in one round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from app.components import coupons
from app.components.core.clock import store_today
from app.components.loyalty import queries
from app.components.loyalty.expiry import expiring, fifo_remaining
from app.components.loyalty.ledger import balance, kind_label
from app.components.loyalty.rules import RULES_SETTING, rules_from
from app.components.loyalty.tiers import tier_label, tier_of
from app.db import as_date


@dataclass(frozen=True)
class PointsStatement:
    """What a member sees: balance, tier, ledger entries (newest first, one page) and what expires when."""

    balance: int
    tier: str
    entries: list[dict]
    expiring: list[tuple[date, int]]
    page: int = 1
    per_page: int = 50
    has_next: bool = False
    spend_fen: int = 0

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)

    @property
    def expiring_soon(self) -> tuple[date, int] | None:
        """The next lot to expire."""
        return self.expiring[0] if self.expiring else None

    def as_json(self) -> dict:
        """The API body."""
        return {
            "balance": self.balance,
            "tier": self.tier,
            "page": self.page,
            "per_page": self.per_page,
            "has_next": self.has_next,
            "entries": [
                {
                    "at": e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"]),
                    "kind": e["kind"],
                    "points": e["points"],
                    "ref": e["ref"],
                    "expires_on": e["expires_on"].isoformat() if e["expires_on"] else None,
                }
                for e in self.entries
            ],
            "expiring": [{"date": d.isoformat(), "points": p} for d, p in self.expiring],
        }


async def statement(member_id: int, page: int = 1, per_page: int = 50, today: date | None = None) -> PointsStatement:
    """The member's points statement."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    rows = await queries.entries_page(member_id, per_page + 1, (page - 1) * per_page)
    entries = [{**r, "expires_on": as_date(r["expires_on"]), "label": kind_label(r["kind"])} for r in rows[:per_page]]
    return PointsStatement(
        balance=await balance(member_id),
        tier=await tier_of(member_id),
        entries=entries,
        expiring=await expiring(member_id, today),
        page=page,
        per_page=per_page,
        has_next=len(rows) > per_page,
    )


@dataclass(frozen=True)
class Wallet:
    """The counter's view of a member's loyalty: points, tier, what expires soon and usable coupons."""

    balance: int
    tier: str
    expiring: list[tuple[date, int]]
    coupons: list[Any] = field(default_factory=list)
    redeem_points_per_yuan: int = 100

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)

    @property
    def balance_fen(self) -> int:
        """What the whole balance would pay."""
        return self.balance * 100 // self.redeem_points_per_yuan


async def wallet(member_id: int, today: date | None = None, soon_days: int = 90) -> Wallet:
    """Points, tier, lots expiring within `soon_days` and usable coupons, for the counter's wallet panel (the
    `wallet_panel` macro in templates/_macros/counter.html)."""

    today = today or store_today()
    # One round trip for the rules, the tier and the ledger by expiry day (the scan of every selling counter
    # shows the wallet): the balance is the sum of all groups, the outflow the undated group's negative sum,
    # exactly as `balance` and `expiring` compute them.
    rows = await queries.wallet_rows(RULES_SETTING, member_id)
    r = rules_from(rows[0]["rules"])
    groups = [(as_date(row["expires_on"]), int(row["points"])) for row in rows if row["points"] is not None]
    outflow = -sum(p for d, p in groups if d is None)
    lots = [(d, p) for d, p in fifo_remaining([g for g in groups if g[0] is not None], outflow) if d >= today]
    return Wallet(
        balance=sum(p for _, p in groups),
        tier=rows[0]["tier"] or "regular",
        expiring=[(d, p) for d, p in lots if d <= today + timedelta(days=soon_days)],
        coupons=await coupons.wallet(member_id, today),
        redeem_points_per_yuan=r.redeem_points_per_yuan,
    )
