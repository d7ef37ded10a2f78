"""A member's purchases and medicines in use, for the profile (medicines are health data: each view is audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.members import member_id
from app.db import fetch, marks
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
    sales = await fetch(
        "SELECT s.id, s.sale_no, s.created_at, s.total, s.status, s.points_earned, st.name AS store FROM sale s"
        f" JOIN store st ON st.id = s.store WHERE s.member = {{}} ORDER BY s.created_at DESC, s.id DESC"
        f" LIMIT {limit + 1}",
        mid,
    )
    has_more = len(sales) > limit
    sales = sales[:limit]
    lines: dict[int, list[PurchaseLine]] = {s["id"]: [] for s in sales}
    if sales:
        in_list = marks(sales)
        for r in await fetch(
            "SELECT l.sale, l.qty, l.returned_qty, l.total, p.name_zh, p.name_en, p.rx_class FROM sale_line l"
            f" JOIN product p ON p.id = l.product WHERE l.sale IN ({in_list}) ORDER BY l.sale, l.line_no",
            *[s["id"] for s in sales],
        ):
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
    rows = await fetch(
        "SELECT m.qty, m.started_on, m.supply_until, m.atc, p.name_zh, p.name_en, p.generic_zh, p.generic_en"
        " FROM medication m JOIN product p ON p.id = m.product"
        " WHERE m.member = {} AND m.supply_until IS NOT NULL AND m.supply_until >= {}"
        " ORDER BY m.supply_until, m.id",
        mid,
        date.fromordinal(today.toordinal() - 90),
    )
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
