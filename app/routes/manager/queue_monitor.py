"""SAQ's own web UI on the job queue (queued, active, failed jobs and their errors), for HQ administrators only.

Read-only here: its retry and abort buttons are refused (405); a job is redone by the schedule instead (every
care and message job reads what is due from the database)."""

from __future__ import annotations

from functools import cache

from litestar import asgi
from litestar.types import ASGIApp, Receive, Scope, Send
from saq.web.starlette import saq_web

from app.components.core.roles import QUEUE_MONITOR_ROLES
from app.routes.guards import requires_role
from app.tasks.queue import make_queue

MOUNT = "/manager/queue"


@cache
def _monitor() -> ASGIApp:
    return saq_web(MOUNT, queues=[make_queue()])


@asgi("/queue", is_mount=True, copy_scope=True, guards=[requires_role(QUEUE_MONITOR_ROLES)])
async def queue_monitor(scope: Scope, receive: Receive, send: Send) -> None:
    """The SAQ monitor under /manager/queue, read-only: inside a mount Litestar's CSRF check sees the path left
    after the mount ("/api/…", which it exempts), so an unsafe method is refused here."""
    if scope.get("method", "GET") not in ("GET", "HEAD"):
        await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
        await send({"type": "http.response.body", "body": b"The job queue monitor is read-only."})
        return
    # Litestar hands a mount the rest of the path with a slash appended ("/api/queues/"), which the monitor's own
    # routes would redirect away from: give it the rest as requested.
    raw = scope.get("raw_path")
    if raw:
        rest = raw.decode("latin-1").split("?", 1)[0][len(MOUNT) :] or "/"
        scope = {**scope, "path": rest, "raw_path": rest.encode("latin-1"), "root_path": MOUNT}
    await _monitor()(scope, receive, send)


ROUTES = [queue_monitor]
