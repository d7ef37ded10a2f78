"""JSON API v1 for member imports (bearer token): upload a file, poll its job, fetch the rejected rows."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from app.components import imports
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role
from app.routes.uploads import IMPORT_ROLES, MULTIPART, UPLOAD_LIMIT, attachment, submit_member_import

import_guard = [requires_role(IMPORT_ROLES)]


@post(
    "/members/import",
    guards=import_guard,
    security=SECURITY,
    tags=["jobs"],
    request_max_body_size=UPLOAD_LIMIT,
    status_code=202,
)
async def api_import(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Response:
    """Upload `file` (.csv or .xlsx; HQ tokens also send `store`, a store code); 202 with the job to poll."""
    submitted = await submit_member_import(request, data)
    body = submitted.job.as_json()
    body["status_url"] = f"/api/v1/jobs/{submitted.job.key}"
    return Response(body, status_code=202, headers={"Location": body["status_url"]})


@get("/jobs/{job_id:str}", guards=import_guard, security=SECURITY, tags=["jobs"])
async def api_job(request: Request, job_id: FromPath[str]) -> dict:
    """A job's status, progress counts and, when rows were rejected, the report URL."""
    return (await imports.get_job(job_id, request.user)).as_json()


@get(
    "/jobs/{job_id:str}/rejected",
    guards=import_guard,
    security=SECURITY,
    tags=["jobs"],
    media_type="text/csv",
)
async def api_job_rejected(request: Request, job_id: FromPath[str]) -> Stream:
    """The rejected rows as CSV with a `reason` column."""
    rows = await imports.rejected_rows(job_id, request.user)
    return Stream(rows, media_type="text/csv; charset=utf-8", headers=attachment(f"rejected-{job_id[:8]}.csv"))


ROUTES = [api_import, api_job, api_job_rejected]
