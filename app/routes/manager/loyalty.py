"""The loyalty rules page: earning, member day, redemption and tiers (HQ admins edit, managers read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from app.components import loyalty
from app.components.core.errors import ValidationFailed
from app.components.core.roles import CATALOG_READ_ROLES, CATALOG_WRITE_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

read_guard = [requires_role(CATALOG_READ_ROLES)]
write_guard = [requires_role(CATALOG_WRITE_ROLES)]


@dataclass
class RulesForm:
    """The rules form as typed (yuan, ×multipliers)."""

    points_per_yuan: str = ""
    exclude_rx: str = ""
    member_day: str = ""
    member_day_multiplier: str = ""
    redeem_points_per_yuan: str = ""
    silver_yuan: str = ""
    gold_yuan: str = ""
    diamond_yuan: str = ""
    silver_multiplier: str = ""
    gold_multiplier: str = ""
    diamond_multiplier: str = ""
    review_month: str = ""
    review_day: str = ""


def _can_edit(request: Request) -> bool:
    return request.user.role in CATALOG_WRITE_ROLES


def _rules_page(
    request: Request, form: dict, errors: dict | None = None, saved: list[str] | None = None, status_code: int = 200
) -> Template:
    ctx = {"form": form, "errors": errors or {}, "saved": saved, "can_edit": _can_edit(request)}
    return render(request, "manager/loyalty.html", ctx, block="rules_form", status_code=status_code)


@get("/loyalty", guards=read_guard)
async def loyalty_rules(request: Request) -> Template:
    """The earning, member-day, redemption and tier rules (HQ admins edit, managers and analysts read)."""
    return _rules_page(request, loyalty.rules_form(await loyalty.rules()))


@post("/loyalty", guards=write_guard)
async def save_loyalty_rules(request: Request, data: Annotated[RulesForm, FORM]) -> Response:
    """Save the rules (audited); 422 with a message next to each bad field, everything typed kept."""
    form = asdict(data)
    try:
        new = loyalty.parse_rules(form)
    except ValidationFailed as exc:
        return _rules_page(request, form, exc.errors, status_code=422)
    changed = await loyalty.save_rules(new, request.user)
    if not wants_partial(request):
        return Redirect("/manager/loyalty", status_code=303)
    return _rules_page(request, loyalty.rules_form(new), saved=changed)


ROUTES = [loyalty_rules, save_loyalty_rules]
