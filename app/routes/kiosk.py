"""The kiosk at the store entrance (placeholder until the kiosk issue lands)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from app.routes.render import render


@get("/kiosk", include_in_schema=False)
async def kiosk_home(request: Request) -> Template:
    """A welcome screen; shows no personal data, so it needs no login."""
    return render(request, "kiosk/index.html", {})


ROUTES = [kiosk_home]
