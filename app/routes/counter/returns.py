"""The store's sales of a day, one past sale and its returns, and the return form."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.components import sales
from app.components.core import clock
from app.components.core.errors import ValidationFailed
from app.components.core.roles import (
    RETURN_ROLES,
    SALE_ROLES,
)
from app.i18n import _
from app.routes.counter.context import tender_label
from app.routes.guards import requires_role
from app.routes.render import FORM, render

guard = [requires_role(SALE_ROLES)]


SALES_LIST_LIMIT = 100


def sale_status_label(status: str) -> str:
    """A sale's status in the current language."""
    return {
        "completed": _("Completed"),
        "part_returned": _("Partly refunded"),
        "returned": _("Refunded"),
    }.get(status, status)


@get("/sales", guards=guard)
async def sales_today(request: Request, q: FromQuery[str] = "", date: FromQuery[str] = "") -> Response | Template:
    """The store's sales of a day (today by default; a date back to SALE_SEARCH_DAYS), newest first, or those whose
    number contains `q`. A whole sale or return number — typed, or scanned from a receipt's barcode or a refund
    slip — opens that sale at once."""
    user = request.user
    store_id = user.store_id
    today = clock.store_today()
    errors: dict[str, str] = {}
    on_date: Any = today
    if store_id and q.strip():
        found_no = await sales.sale_no_for(store_id, q)
        if found_no:
            return Redirect(f"/counter/sales/{found_no}", status_code=303)
        on_date = None  # a part of a number: any day, unless a day is picked too
    if date.strip():
        try:
            on_date = sales.sales_date(date, today)
        except ValidationFailed as exc:
            errors, on_date = exc.errors, None
    found = (
        await sales.recent_sales(store_id, limit=SALES_LIST_LIMIT + 1, on_date=on_date, number=q)
        if store_id and not errors
        else []
    )
    ctx = {
        "sales": found[:SALES_LIST_LIMIT],
        "more": len(found) > SALES_LIST_LIMIT,
        "sale_status_label": sale_status_label,
        "q": q.strip(),
        "date": date.strip() if errors else (on_date.isoformat() if on_date else ""),
        "on_date": on_date,
        "today": today,
        "yesterday": today - timedelta(days=1),
        "earliest": today - timedelta(days=sales.SALE_SEARCH_DAYS),
        "errors": errors,
    }
    status = 422 if errors else (404 if q.strip() and not found else 200)
    return render(request, "counter/sales.html", ctx, status_code=status)


def refundable(sale: Any) -> list[dict[str, Any]]:
    """Per tender kind of the sale, in the order refunds fill them: paid, refunded so far, still refundable."""
    net = sales.tender_net(sale)
    taken: dict[str, int] = {}
    for ret in sale.returns:
        for part in ret.tenders:
            taken[part.original_kind] = taken.get(part.original_kind, 0) + part.amount
    order = [k for k in sales.REFUND_ORDER if k in net] + sorted(set(net) - set(sales.REFUND_ORDER))
    return [{"kind": k, "paid": net[k], "refunded": taken.get(k, 0), "left": net[k] - taken.get(k, 0)} for k in order]


async def _sale_ctx(request: Request, sale: Any, **extra: Any) -> dict[str, Any]:
    user = request.user
    settings = await sales.counter_settings()
    restricted = [line for line in sale.lines if line.returnable > 0 and line.restriction]
    refuse = settings.restricted_returns == sales.REFUSE
    return {
        "sale": sale,
        "can_return": user.role in RETURN_ROLES,
        "return_key": uuid.uuid4().hex,
        "tender_label": tender_label,
        "restriction_label": sales.restriction_label,
        "refuse_restricted": refuse,
        "needs_approval": bool(restricted) and not refuse and user.role not in sales.RETURN_APPROVER_ROLES,
        "refundable": refundable(sale),
        "other_refund_kinds": sales.OTHER_REFUND_KINDS,
        "errors": {},
        "form": {},
        **extra,
    }


@get("/sales/{sale_no:str}", guards=guard)
async def sale_page(request: Request, sale_no: FromPath[str]) -> Template:
    """A past sale, the returns so far (each with its refund slip) and, for roles that may refund, the return form."""
    sale = await sales.get_sale(sale_no, request.user)
    return render(request, "counter/sale.html", await _sale_ctx(request, sale), block="sale_body")


# The sale component's field names → the return form's.
_RETURN_FIELDS = {"approver": "username", "refund_kind": "refund_to"}


@post("/sales/{sale_no:str}/returns", guards=[requires_role(RETURN_ROLES)])
async def sale_return(request: Request, sale_no: FromPath[str], data: Annotated[dict[str, str], FORM]) -> Template:
    """Refund the whole sale or some units of its lines, with a reason; the form's key makes a retry one refund.

    The money goes back to the sale's tenders unless another tender is chosen with a reason; dispensed Rx,
    antibiotic and cold-chain lines need a store manager's username and PIN (or are refused), as the chain says.
    """
    sale = await sales.get_sale(sale_no, request.user)
    key = str(data.get("key") or "").strip()
    reason = str(data.get("reason") or "")
    refund_to = str(data.get("refund_to") or "original").strip()
    errors: dict[str, str] = {}
    lines: list[tuple[int, int]] | None = None
    if data.get("scope") != "all":
        lines = []
        for line in sale.lines:
            raw = str(data.get(f"qty-{line.line_no}") or "").strip()
            if not raw:
                continue
            if not raw.isdigit() or len(raw) > 4:
                errors[f"qty-{line.line_no}"] = _("Type a whole number.")
            elif int(raw):
                lines.append((line.line_no, int(raw)))
        if not lines and not errors:
            errors["lines"] = _("Choose what comes back: the whole sale or a quantity on a line.")
    if not key:
        errors["key"] = _("The form has expired. Reload the page and try again.")
    if not errors:
        try:
            result = await sales.return_sale(
                sales.ReturnRequest(
                    idempotency_key=key,
                    sale_no=sale.sale_no,
                    lines=lines,
                    reason=reason,
                    refund_kind="" if refund_to == "original" else refund_to,
                    refund_reason=str(data.get("refund_reason") or ""),
                    approver_username=str(data.get("username") or ""),
                    approver_pin=str(data.get("pin") or ""),
                ),
                request.user,
            )
        except ValidationFailed as exc:  # what may still come back is the sale component's rule
            errors = {
                _RETURN_FIELDS.get(field, re.sub(r"^lines\.(\d+)$", r"qty-\1", field)): text
                for field, text in exc.errors.items()
            }
        except sales.NotPermitted as exc:
            errors = {"reason": exc.message}
        else:
            ctx = await _sale_ctx(request, result.sale, returned=result.ret)
            return render(request, "counter/sale.html", ctx, block="sale_body")
    form = {k: v for k, v in data.items() if k != "pin"}  # a PIN is never sent back
    ctx = await _sale_ctx(request, sale, errors=errors, form=form, return_key=key or uuid.uuid4().hex)
    return render(request, "counter/sale.html", ctx, block="sale_body", status_code=422)


ROUTES = [sales_today, sale_page, sale_return]
