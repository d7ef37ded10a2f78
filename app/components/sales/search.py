"""Finding recorded sales: by number (or a return's number on a refund slip), the store's latest, by date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales.queries import sale as sale_sql
from app.components.sales.views import SaleSummary, SaleView, sale_view
from app.i18n import _
from app.settings import get_settings

# How far back the counter's sales list goes by date (a sale's number finds it whatever its age).
SALE_SEARCH_DAYS = 730


async def load_sale(sale_id: int) -> SaleView:
    rows = await sale_sql.sale_with_names(sale_id)
    if not rows:
        raise NotFound(_("No sale with id %(id)s.") % {"id": sale_id})
    s = rows[0]
    line_rows = await sale_sql.sale_lines(sale_id)
    tender_rows = await sale_sql.sale_tenders(sale_id)
    return_rows = await sale_sql.sale_returns(sale_id)
    approval_rows = await sale_sql.sale_approvals(sale_id)
    refund_rows = await sale_sql.sale_refund_tenders(sale_id) if return_rows else []
    return sale_view(s, line_rows, tender_rows, return_rows, refund_rows, approval_rows)


async def get_sale(sale_no: str, actor: StaffUser) -> SaleView:
    """A sale with its lines, tenders and returns; NotFound when unknown or in another store (store roles)."""
    rows = await sale_sql.sale_ref((sale_no or "").strip().upper())
    if not rows or (actor.store_id is not None and rows[0]["store"] != actor.store_id):
        raise NotFound(_("No sale with number %(no)s.") % {"no": sale_no})
    return await load_sale(rows[0]["id"])


async def recent_sales(
    store_id: int, limit: int = 20, on_date: date | None = None, number: str = ""
) -> list[SaleSummary]:
    """The store's latest sales (of `on_date` in the store zone when given; whose number contains `number` when
    given), newest first."""
    since = until = None
    if on_date is not None:
        zone = ZoneInfo(get_settings().timezone)
        since = datetime.combine(on_date, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        until = since + timedelta(days=1)
    text = normalize_number(number)
    like = "%" + text.replace("%", "").replace("_", "") + "%" if text else ""
    rows = await sale_sql.recent(store_id, since, until, like, max(1, min(int(limit), 200)))
    return [
        SaleSummary(
            r["sale_no"], r["created_at"], r["member_name"], r["staff_name"], r["total"], r["status"], r["lines"]
        )
        for r in rows
    ]


def normalize_number(text: str) -> str:
    """A sale or return number as typed or scanned from a receipt's barcode: no spaces, upper case, at most 40
    characters (anything longer is no number of ours)."""
    return "".join((text or "").split()).upper()[:40]


async def sale_no_for(store_id: int, number: str) -> str | None:
    """The sale a scanned or typed number names in this store: a sale number, or the number of one of its
    returns (a refund slip); None when it names neither."""
    text = normalize_number(number)
    if not text:
        return None
    rows = await sale_sql.sale_no_by_number(store_id, text)
    return rows[0]["sale_no"] if rows else None


def sales_date(text: str, today: date | None = None) -> date:
    """The date picked on the counter's sales list (YYYY-MM-DD), within the last SALE_SEARCH_DAYS and not
    after today; ValidationFailed on field "date" otherwise."""
    today = today or store_today()
    earliest = today - timedelta(days=SALE_SEARCH_DAYS)
    try:
        picked = date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationFailed({"date": _("Pick a date (YYYY-MM-DD).")}) from None
    if picked > today:
        raise ValidationFailed({"date": _("Pick today or an earlier day.")})
    if picked < earliest:
        raise ValidationFailed(
            {
                "date": _("Sales are listed by date back to %(date)s; find an older sale by its number.")
                % {"date": earliest.isoformat()}
            }
        )
    return picked
