"""Bulk import and export of members: upload page, job progress (htmx polling), reports, exports."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template

from app.components import imports
from app.components.core.errors import ValidationFailed
from app.components.core.roles import HQ_ROLES, MANAGER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render
from app.routes.uploads import IMPORT_ROLES, MULTIPART, UPLOAD_LIMIT, attachment, submit_member_import

# A list of a store's members leaves the system: managers only.
EXPORT_ROLES = MANAGER_ROLES
import_guard = [requires_role(IMPORT_ROLES)]
export_guard = [requires_role(EXPORT_ROLES)]


def _layout(request: Request) -> str:
    return "_layouts/manager.html" if request.user.role in MANAGER_ROLES else "_layouts/counter.html"


async def _import_ctx(request: Request, **extra: Any) -> dict[str, Any]:
    user = request.user
    return {
        "layout": _layout(request),
        "jobs": await imports.recent_jobs(user),
        "stores": await imports.stores() if user.role in HQ_ROLES else [],
        "is_hq": user.role in HQ_ROLES,
        "columns": [(imports.COLUMN_BY_KEY[k], text) for k, text in imports.column_help()],
        "can_export": user.role in EXPORT_ROLES,
        "errors": {},
        "store": "",
        **extra,
    }


@get("/import", guards=import_guard)
async def import_page(request: Request) -> Template:
    """Upload a customer file; the template, the accepted columns and recent imports."""
    return render(request, "members/import.html", await _import_ctx(request))


@post("/import", guards=import_guard, request_max_body_size=UPLOAD_LIMIT)
async def import_upload(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Response | Template:
    """Start an import and go to its progress page; errors come back on the form."""
    try:
        submitted = await submit_member_import(request, data)
    except ValidationFailed as exc:
        ctx = await _import_ctx(request, errors=exc.errors, store=str(data.get("store", "") or ""))
        return render(request, "members/import.html", ctx, status_code=422)
    return Redirect(f"/members/import/{submitted.job.key}", status_code=303)


@get("/import/template", guards=import_guard)
async def import_template(request: Request, format: FromQuery[str] = "csv") -> Response:
    """The empty template with the right headers, as .csv or .xlsx."""
    if format == "xlsx":
        return Response(
            imports.template_xlsx(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=attachment("yaoshi-members-template.xlsx"),
        )
    return Response(
        imports.template_csv(),
        media_type="text/csv; charset=utf-8",
        headers=attachment("yaoshi-members-template.csv"),
    )


@get("/import/{job_key:str}", guards=import_guard)
async def import_job(request: Request, job_key: FromPath[str]) -> Template:
    """A job's progress and, once done, its result; htmx polls the progress block until the job ends."""
    job = await imports.get_job(job_key, request.user)
    return render(request, "members/import_job.html", {"layout": _layout(request), "job": job}, block="progress")


@get("/import/{job_key:str}/rejected.csv", guards=import_guard)
async def import_rejected(request: Request, job_key: FromPath[str]) -> Stream:
    """The rejected rows with a reason column, to fix and import again."""
    rows = await imports.rejected_rows(job_key, request.user)
    return Stream(rows, media_type="text/csv; charset=utf-8", headers=attachment(f"rejected-{job_key[:8]}.csv"))


async def _export_ctx(request: Request, **extra: Any) -> dict[str, Any]:
    user = request.user
    return {
        "layout": _layout(request),
        "is_hq": user.role in HQ_ROLES,
        "stores": await imports.stores() if user.role in HQ_ROLES else [],
        "may_full": imports.may_export_full(user),
        "errors": {},
        "form": {"format": "csv", "store": "", "full": ""},
        **extra,
    }


@get("/export", guards=export_guard)
async def export_page(request: Request) -> Template:
    """Choose a format, a store (HQ) and whether to include full data."""
    return render(request, "members/export.html", await _export_ctx(request))


@get("/export/download", guards=export_guard)
async def export_download(
    request: Request, format: FromQuery[str] = "csv", store: FromQuery[str] = "", full: FromQuery[str] = ""
) -> Stream | Template:
    """The members as a streamed CSV or XLSX file; the export is audited with its row count."""
    try:
        export = await imports.prepare(request.user, format, store, full in ("1", "on", "true"))
    except ValidationFailed as exc:
        form = {"format": format, "store": store, "full": full}
        ctx = await _export_ctx(request, errors=exc.errors, form=form)
        return render(request, "members/export.html", ctx, status_code=422)
    return Stream(imports.stream(export), media_type=export.media_type, headers=attachment(export.filename))


ROUTES = [import_page, import_upload, import_template, import_job, import_rejected, export_page, export_download]
