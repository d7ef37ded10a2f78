"""A member's purchases and medicines in use, for the profile (medicines are health data: each view is audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.members import member_id
from app.components.sales.queries import purchases as purchase_sql
from app.i18n import pick

PURCHASES_VIEW = "purchases.view"


@dataclass(frozen=True)
class PurchaseLine:
    """One product of a purchase."""

    name: str
    qty: int
    returned_qty: int
    total: int
    rx: bool


@dataclass(frozen=True)
class Purchase:
    """One sale to the member, newest first in the list."""

    sale_no: str
    at: datetime
    store: str
    total: int
    status: str
    points_earned: int
    lines: list[PurchaseLine]


@dataclass(frozen=True)
class Medicine:
    """A medicine the member bought with days of supply, and until when that supply lasts."""

    name: str
    generic: str
    atc: str
    qty: int
    started_on: date
    supply_until: date | None
    days_left: int | None

    @property
    def running_out(self) -> bool:
        """Seven days or fewer of supply left: the refill conversation is due."""
        return self.days_left is not None and 0 <= self.days_left <= 7


@dataclass(frozen=True)
class PurchaseHistory:
    """What the profile's purchases section shows."""

    purchases: list[Purchase]
    medicines: list[Medicine]
    has_more: bool


def _date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def history(member_no: str, actor: StaffUser, limit: int = 20) -> PurchaseHistory:
    """The latest purchases (every store of the chain) and the medicines whose supply runs within 90 days."""
    mid = await member_id(member_no)
    limit = max(1, min(int(limit), 100))
    today = store_today()
    sales = await purchase_sql.member_sales(mid, limit + 1)
    has_more = len(sales) > limit
    sales = sales[:limit]
    lines: dict[int, list[PurchaseLine]] = {s["id"]: [] for s in sales}
    if sales:
        for r in await purchase_sql.lines_of_sales([s["id"] for s in sales]):
            name = pick(r["name_zh"], r["name_en"] or r["name_zh"])
            lines[r["sale"]].append(PurchaseLine(name, r["qty"], r["returned_qty"], r["total"], r["rx_class"] == "Rx"))
    purchases = [
        Purchase(
            s["sale_no"],
            _datetime(s["created_at"]),
            s["store"],
            s["total"],
            s["status"],
            s["points_earned"],
            lines[s["id"]],
        )
        for s in sales
    ]
    rows = await purchase_sql.medicines_since(mid, date.fromordinal(today.toordinal() - 90))
    medicines = []
    for r in rows:
        until = _date(r["supply_until"])
        medicines.append(
            Medicine(
                name=pick(r["name_zh"], r["name_en"] or r["name_zh"]),
                generic=pick(r["generic_zh"], r["generic_en"] or r["generic_zh"]),
                atc=r["atc"],
                qty=r["qty"],
                started_on=_date(r["started_on"]) or today,
                supply_until=until,
                days_left=(until - today).days if until else None,
            )
        )
    await audit.record(actor, PURCHASES_VIEW, member_id=mid)
    return PurchaseHistory(purchases, medicines, has_more)
