"""Files in and out, shared by the pages and the API: an upload read in chunks, a member import queued, an
attachment's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from app.components import imports
from app.components.core.errors import ValidationFailed
from app.components.core.roles import MEMBER_WRITE_ROLES
from app.i18n import _, current_language
from app.tasks.imports import enqueue_import

# Importing writes members, so the roles that may register may import (store roles into their own store).
IMPORT_ROLES = MEMBER_WRITE_ROLES
MULTIPART = Body(media_type=RequestEncodingType.MULTI_PART)
UPLOAD_LIMIT = imports.MAX_UPLOAD_BYTES + 1024 * 1024


def attachment(filename: str) -> dict[str, str]:
    """The headers of a file to download, never cached."""
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


async def chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """An uploaded file a megabyte at a time."""
    while chunk := await upload.read(1024 * 1024):
        yield chunk


async def submit_member_import(request: Request, data: dict[str, Any]) -> imports.Submitted:
    """Store the uploaded file, create its job and queue it; ValidationFailed names the field."""
    upload = data.get("file") if isinstance(data, dict) else None
    store = data.get("store", "") if isinstance(data, dict) else ""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed({"file": _("Choose a .xlsx or .csv file to upload.")})
    try:
        submitted = await imports.submit(request.user, upload.filename, chunks(upload), str(store or ""))
    finally:
        await upload.close()
    await enqueue_import(submitted.job.key, current_language.get())
    return submitted
