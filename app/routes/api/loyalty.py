"""JSON API v1 for loyalty (bearer token): a member's points, tier, ledger and what expires when."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromPath

from app.components import loyalty, members
from app.components.core.roles import MEMBER_READ_ROLES
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role
from app.routes.params import Page, PerPage


@get(
    "/members/{member_no:str}/points",
    guards=[requires_role(MEMBER_READ_ROLES)],
    security=SECURITY,
    tags=["loyalty"],
)
async def member_points(request: Request, member_no: FromPath[str], page: Page = 1, per_page: PerPage = 50) -> dict:
    """The member's points: `balance`, `tier`, `entries` (newest first, paged: `page`, `per_page` ≤ 200,
    `has_next`) and `expiring` ([{date, points}], soonest first); 404 when the member is unknown."""
    member_id = await members.member_id(member_no)
    statement = await loyalty.statement(member_id, page=page, per_page=per_page)
    return {"member_no": member_no, **statement.as_json()}


ROUTES = [member_points]
