"""The chain's counter settings page: HQ sets the rule for returns of dispensed medicines and the print paper."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.response import Template

from app.components import sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import CATALOG_WRITE_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render

PAGE = "manager/settings.html"


def _ctx(request: Request, current: sales.CounterSettings, **extra: Any) -> dict[str, Any]:
    return {
        "current": current,
        "form": {},
        "errors": {},
        "saved": None,
        "may_edit": request.user.role in CATALOG_WRITE_ROLES,
        "rules": sales.RESTRICTED_RETURNS,
        "receipt_papers": sales.RECEIPT_PAPERS,
        "slip_papers": sales.SLIP_PAPERS,
        "rule_label": sales.restricted_returns_label,
        "paper_label": sales.paper_label,
        **extra,
    }


@get("/settings")
async def settings_page(request: Request) -> Template:
    """The chain's counter rules (HQ administrators may change them)."""
    current = await sales.counter_settings()
    return render(request, PAGE, _ctx(request, current), block="settings_form")


@post("/settings", guards=[requires_role(CATALOG_WRITE_ROLES)])
async def settings_save(request: Request, data: Annotated[dict[str, str], FORM]) -> Template:
    """Save the chain's counter rules (audited); a bad value comes back next to its field, nothing lost."""
    try:
        new = sales.parse_form(data)
        changed = await sales.save_counter_settings(new, request.user)
    except ValidationFailed as exc:
        ctx = _ctx(request, await sales.counter_settings(), form=data, errors=exc.errors)
        return render(request, PAGE, ctx, block="settings_form", status_code=422)
    return render(request, PAGE, _ctx(request, new, saved=changed), block="settings_form")


ROUTES = [settings_page, settings_save]
