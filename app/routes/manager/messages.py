"""The message outbox for managers: the newest messages by status, why one failed or was held back, and the
text of what the log channel sent (store managers see their store's, HQ every store's)."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from app.components import messages
from app.i18n import _
from app.routes.render import render

PAGE = "manager/messages.html"


@get("/messages")
async def messages_page(request: Request, status: FromQuery[str] = "") -> Template:
    """The newest messages (a store manager's store; every store for HQ), filtered by status."""
    status = status.strip()
    errors = {}
    if status and status not in messages.STATUSES:
        errors["status"] = _("Choose one of the listed statuses.")
    found = await messages.recent_messages(request.user, status=None if errors else status or None)
    ctx = {
        "messages": found,
        "status": status,
        "statuses": [(s, messages.status_label(s)) for s in messages.STATUSES],
        "errors": errors,
    }
    return render(request, PAGE, ctx, block="message_list", status_code=422 if errors else 200)


ROUTES = [messages_page]
