"""The audit trail for HQ admins: page and filter audit events."""

from __future__ import annotations

from datetime import date

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from app.components import audit, consents
from app.components.core.roles import AUDIT_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.params import Page
from app.routes.render import render


def _parse_date(value: str) -> tuple[date | None, str | None]:
    if not value:
        return None, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, _("Enter the date as YYYY-MM-DD.")


@get("/audit", guards=[requires_role(AUDIT_ROLES)])
async def audit_page(
    request: Request,
    username: FromQuery[str] = "",
    action: FromQuery[str] = "",
    member_no: FromQuery[str] = "",
    store: FromQuery[str] = "",
    date_from: FromQuery[str] = "",
    date_to: FromQuery[str] = "",
    page: Page = 1,
) -> Template:
    """Page and filter audit events (newest first)."""
    start, err_from = _parse_date(date_from)
    end, err_to = _parse_date(date_to)
    errors = {k: v for k, v in (("date_from", err_from), ("date_to", err_to)) if v}
    flt = audit.AuditFilter(
        username=username.strip(),
        action=action.strip(),
        member_no=member_no.strip(),
        store_code=store.strip(),
        date_from=start,
        date_to=end,
    )
    result = await audit.search(flt, page=page)
    ctx = {
        "result": result,
        "filters": {
            "username": username,
            "action": action,
            "member_no": member_no,
            "store": store,
            "date_from": date_from,
            "date_to": date_to,
        },
        "errors": errors,
        "actions": audit.FILTER_ACTIONS,
        "channel_label": consents.channel_label,
    }
    return render(request, "manager/audit.html", ctx, block="audit_results", status_code=422 if errors else 200)


ROUTES = [audit_page]
