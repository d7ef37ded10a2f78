"""The profile's points section: balance, tier, what expires, the ledger, the member's coupons, the gift exchange."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.components import coupons, loyalty, members
from app.components.core import clock
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES, SALE_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.render import FORM, render

POINTS = "members/points.html"
BLOCK = "points_section"
guard = [requires_role(COUNTER_ROLES)]


async def _points_ctx(request: Request, member_no: str, **extra: object) -> dict:
    member_id = await members.member_id(member_no)
    return {
        "member_no": member_no,
        "statement": await loyalty.statement(member_id, per_page=20),
        "coupons": await coupons.wallet(member_id, clock.store_today()),
        "may_redeem_gift": request.user.role in SALE_ROLES,
        "gift_form": {"key": uuid.uuid4().hex, "gift": "", "points": ""},
        "gift_errors": {},
        **extra,
    }


@get("/{member_no:str}/points", guards=guard)
async def points_section(request: Request, member_no: FromPath[str]) -> Template:
    """Points balance, tier, what expires when, the ledger, the member's coupons and the gift exchange."""
    return render(request, POINTS, await _points_ctx(request, member_no), block=BLOCK)


@dataclass
class GiftForm:
    """Points exchanged for a gift at the counter; `key` makes a double tap one exchange."""

    key: str = ""
    gift: str = ""
    points: str = ""


@post("/{member_no:str}/points/gifts", guards=[requires_role(SALE_ROLES)])
async def redeem_gift(request: Request, member_no: FromPath[str], data: Annotated[GiftForm, FORM]) -> Template:
    """Exchange the member's points for a gift; errors come back next to the fields with what was typed."""
    member_id = await members.member_id(member_no)
    try:
        points = int(data.points.strip())
    except ValueError:
        points = 0
    try:
        if not data.key.strip():
            raise ValidationFailed({"gift": _("This form has expired. Reload the section and try again.")})
        taken = await loyalty.redeem_gift(member_id, points, data.gift, f"{member_id}:{data.key.strip()}", request.user)
    except ValidationFailed as exc:
        ctx = await _points_ctx(request, member_no, gift_form=vars(data), gift_errors=exc.errors)
        return render(request, POINTS, ctx, status_code=422, block=BLOCK)
    done = {"gift": data.gift.strip(), "points": taken}
    return render(request, POINTS, await _points_ctx(request, member_no, gift_done=done), block=BLOCK)


ROUTES = [points_section, redeem_gift]
