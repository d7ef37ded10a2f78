"""Merging duplicate members from the profile: enter the other number, compare side by side, confirm; undo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.components import members
from app.components.core.errors import ValidationFailed
from app.components.core.roles import COUNTER_ROLES
from app.routes.guards import requires_role
from app.routes.params import RowId
from app.routes.render import FORM, render, wants_partial

SECTION = "members/merge.html"
COMPARE = "members/merge_compare.html"
REFRESH = {"HX-Refresh": "true"}


@dataclass
class MergeForm:
    """The other record's member number."""

    other_no: str = ""


async def _section(
    request: Request,
    member_no: str,
    other_no: str = "",
    errors: dict | None = None,
    done: members.MergeRecord | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    ctx = {
        "member_no": member_no,
        "records": await members.merges_for(member_no),
        "may_merge": request.user.role in members.MERGE_ROLES,
        "other_no": other_no,
        "errors": errors or {},
        "done": done,
    }
    return render(request, SECTION, ctx, block="merge_section", status_code=status_code, headers=headers)


@get("/{member_no:str}/merge", guards=[requires_role(COUNTER_ROLES)])
async def merge_section(request: Request, member_no: FromPath[str]) -> Template:
    """Merges this member took part in (with undo), and for pharmacists the "merge with another member" form."""
    return await _section(request, member_no)


@get("/{member_no:str}/merge/compare", guards=[requires_role(members.MERGE_ROLES)])
async def compare(request: Request, member_no: FromPath[str], other_no: FromQuery[str] = "") -> Template:
    """This member and the other record side by side, with what would move; confirm to merge."""
    try:
        found = await members.preview(member_no, other_no, actor=request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, other_no, exc.errors, status_code=422)
    return render(request, COMPARE, {"member_no": member_no, "p": found}, block="merge_compare")


@post("/{member_no:str}/merge", guards=[requires_role(members.MERGE_ROLES)])
async def do_merge(request: Request, member_no: FromPath[str], data: Annotated[MergeForm, FORM]) -> Response:
    """Merge the other record into this member (the survivor); repeating it gives the same merge."""
    try:
        record = await members.merge(member_no, data.other_no, actor=request.user)
    except ValidationFailed as exc:
        return await _section(request, member_no, data.other_no, exc.errors, status_code=422)
    if not wants_partial(request):
        return Redirect(f"/members/{member_no}", status_code=303)
    # Every section of the profile changed: htmx reloads the page.
    return await _section(request, member_no, done=record, headers=REFRESH)


@post("/{member_no:str}/merges/{merge_id:int}/undo", guards=[requires_role(members.MERGE_ROLES)])
async def undo_merge(request: Request, member_no: FromPath[str], merge_id: RowId) -> Response:
    """Undo a merge: the rows go back and the merged record is in use again."""
    try:
        await members.undo(merge_id, actor=request.user, member_no=member_no)
    except ValidationFailed as exc:
        return await _section(request, member_no, errors=exc.errors, status_code=422)
    if not wants_partial(request):
        return Redirect(f"/members/{member_no}", status_code=303)
    return await _section(request, member_no, headers=REFRESH)


ROUTES = [merge_section, compare, do_merge, undo_merge]
