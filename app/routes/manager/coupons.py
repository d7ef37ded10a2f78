"""Coupon templates for managers: issued and redeemed counts, issue one to a member, create a template, print
codes."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.components import catalog, coupons, members
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import CATALOG_READ_ROLES, CATALOG_WRITE_ROLES, COUPON_ISSUE_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.render import FORM, render, wants_partial

read_guard = [requires_role(CATALOG_READ_ROLES)]
write_guard = [requires_role(CATALOG_WRITE_ROLES)]
issue_guard = [requires_role(COUPON_ISSUE_ROLES)]


def _can_edit(request: Request) -> bool:
    return request.user.role in CATALOG_WRITE_ROLES


@dataclass
class IssueForm:
    """Issue one coupon to a member; `request_key` makes a double submit issue once."""

    member_no: str = ""
    request_key: str = ""


@dataclass
class PrintForm:
    """Print `count` codes; `batch_key` makes a double submit print once."""

    count: str = ""
    batch_key: str = ""


async def _coupons_page(
    request: Request,
    form: dict | None = None,
    errors: dict | None = None,
    target: str = "",
    notice: str = "",
    issue_form: dict | None = None,
    status_code: int = 200,
) -> Template:
    ctx = {
        "templates": await coupons.templates(),
        "form": form or asdict(coupons.NewTemplate()),
        "errors": errors or {},
        "target": target,  # which template's issue/print form the errors belong to
        "notice": notice,
        "issue_form": issue_form or {},
        "can_edit": _can_edit(request),
        "can_issue": request.user.role in COUPON_ISSUE_ROLES,
        "new_key": secrets.token_urlsafe(12),
        "kinds": [("amount", _("Amount off (¥)")), ("percent", _("Percent off (%)"))],
        "scopes": [("all", _("All products")), ("category", _("A category")), ("product", _("One product (SKU)"))],
        "categories": [(c, catalog.category_l1_label(c)) for c in catalog.CATEGORIES_L1],
    }
    return render(request, "manager/coupons.html", ctx, block="coupons_body", status_code=status_code)


@get("/coupons", guards=read_guard)
async def coupon_templates(request: Request) -> Template:
    """Coupon templates with issued/redeemed counts; the issue form for HQ admins and store managers (their own
    store's members), the create and print forms for HQ admins."""
    return await _coupons_page(request)


@post("/coupons", guards=write_guard)
async def create_coupon_template(request: Request, data: Annotated[coupons.NewTemplate, FORM]) -> Response:
    """Create a template; 422 with field errors and the form as typed."""
    try:
        made = await coupons.create_template(data, request.user)
    except ValidationFailed as exc:
        return await _coupons_page(request, asdict(data), exc.errors, target="new", status_code=422)
    if not wants_partial(request):
        return Redirect("/manager/coupons", status_code=303)
    return await _coupons_page(request, notice=_("Template %(code)s created.") % {"code": made.code})


@post("/coupons/{code:str}/issue", guards=issue_guard)
async def issue_coupon(request: Request, code: FromPath[str], data: Annotated[IssueForm, FORM]) -> Response:
    """Issue a coupon of template `code` to the member numbered `member_no` (a store manager: a member of their
    own store; another store's member is refused next to the field, as if unknown)."""
    template = await coupons.get_template(code)
    member_no = data.member_no.strip()
    try:
        try:
            member_id = await members.member_id(member_no)
        except NotFound as exc:
            raise ValidationFailed({"member_no": exc.message}) from None
        key = f"manual:{data.request_key}" if data.request_key else None
        issued = await coupons.issue(template.code, member_id, "manual", key, request.user)
    except ValidationFailed as exc:
        errors = {"member_no": next(iter(exc.errors.values()))}
        return await _coupons_page(
            request, errors=errors, target=template.code, issue_form=asdict(data), status_code=422
        )
    if not wants_partial(request):
        return Redirect("/manager/coupons", status_code=303)
    notice = _("Coupon %(coupon)s issued to member %(no)s.") % {"coupon": issued.code, "no": member_no}
    return await _coupons_page(request, notice=notice)


@post("/coupons/{code:str}/print", guards=write_guard)
async def print_coupons(request: Request, code: FromPath[str], data: Annotated[PrintForm, FORM]) -> Response:
    """A printable page of `count` new codes (the same codes again for the same `batch_key`)."""
    template = await coupons.get_template(code)
    text = data.count.strip()
    try:
        if not text.isdigit():
            raise ValidationFailed({"count": _("Enter how many codes to print.")})
        issued = await coupons.print_codes(template.code, int(text), request.user, batch_key=data.batch_key)
    except ValidationFailed as exc:
        return await _coupons_page(
            request, errors=exc.errors, target=template.code, issue_form=asdict(data), status_code=422
        )
    barcodes = {c.code: members.barcode_svg(c.code) for c in issued}
    ctx = {"template": template, "issued": issued, "barcodes": barcodes}
    # Always the whole page: the form posts to a new tab, which is printed.
    return render(request, "manager/coupons_print.html", ctx)


ROUTES = [coupon_templates, create_coupon_template, issue_coupon, print_coupons]
