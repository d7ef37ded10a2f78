"""What the counter prints after a sale: the receipt, the medication guidance slip, the refund slip."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import loyalty, members, sales
from app.components.core.errors import NotFound
from app.components.core.roles import (
    SALE_ROLES,
)
from app.i18n import _
from app.routes.counter.context import tender_label
from app.routes.guards import requires_role
from app.routes.render import render

guard = [requires_role(SALE_ROLES)]


def _print_ctx(asked: str, offered: tuple[str, ...], default: str) -> dict[str, Any]:
    """The paper a print page lays out for: the page's toggle when it names one offered, else the chain's."""
    paper = asked if asked in offered else default
    return {"paper": paper, "papers": offered, "paper_label": sales.paper_label}


async def _points_balance(member_id: int | None) -> int | None:
    return await loyalty.balance(member_id) if member_id is not None else None


@get("/sales/{sale_no:str}/receipt", guards=guard)
async def receipt(
    request: Request, sale_no: FromPath[str], paper: FromQuery[str] = "", reprint: FromQuery[str] = ""
) -> Template:
    """The printable receipt of a sale of this store: its Code 128 sale number (scan it to find the sale again)
    and, once refunded, every refund and what is still paid. `paper` 58 | 80 overrides the chain's roll."""
    sale = await sales.get_sale(sale_no, request.user)
    settings = await sales.counter_settings()
    ctx = {
        "sale": sale,
        "phone_masked": sale.member_phone_masked,
        "points_balance": await _points_balance(sale.member_id),
        "tender_label": tender_label,
        "barcode": members.barcode_svg(sale.sale_no, module_width=0.25, quiet_zone=2.5),
        "reprint": reprint == "1" or bool(sale.returns),
        "printed_at": datetime.now(UTC),
        **_print_ctx(paper, sales.RECEIPT_PAPERS, settings.receipt_paper),
    }
    return render(request, "counter/receipt.html", ctx)


@get("/sales/{sale_no:str}/guidance", guards=guard)
async def guidance_page(request: Request, sale_no: FromPath[str], paper: FromQuery[str] = "") -> Template:
    """The medication guidance slip, personalised: each medicine's counselling points, the member's relevant
    allergies and any override beside the contraindication it contradicts (reading them is audited), the
    pharmacist and the store's phone. `paper` 58 | 80 | a4 overrides the chain's."""
    slip = await sales.guidance_slip(sale_no, request.user)
    settings = await sales.counter_settings()
    ctx = {
        "sale": slip.sale,
        "slip": slip,
        "items": slip.items,
        **_print_ctx(paper, sales.SLIP_PAPERS, settings.slip_paper),
    }
    return render(request, "counter/guidance.html", ctx)


@get("/sales/{sale_no:str}/returns/{return_no:str}/slip", guards=guard)
async def refund_slip(
    request: Request, sale_no: FromPath[str], return_no: FromPath[str], paper: FromQuery[str] = ""
) -> Template:
    """The printable refund slip of one return: sale and return numbers, lines, the money per tender, reason,
    staff and store. `paper` 58 | 80 | a4 overrides the chain's slip paper."""
    sale = await sales.get_sale(sale_no, request.user)
    wanted = sales.normalize_number(return_no)
    ret = next((r for r in sale.returns if r.return_no == wanted), None)
    if ret is None:
        raise NotFound(_("Sale %(sale)s has no return %(no)s.") % {"sale": sale.sale_no, "no": return_no})
    settings = await sales.counter_settings()
    ctx = {
        "sale": sale,
        "ret": ret,
        "lines": {line.line_no: line for line in sale.lines},
        "tender_label": tender_label,
        **_print_ctx(paper, sales.SLIP_PAPERS, settings.slip_paper),
    }
    return render(request, "counter/refund_slip.html", ctx)


ROUTES = [receipt, guidance_page, refund_slip]
