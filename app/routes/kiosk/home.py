"""The kiosk's welcome screen (placeholder until the kiosk issue lands)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from app.routes.render import render


@get("/")
async def kiosk_home(request: Request) -> Template:
    """A welcome screen; shows no personal data, so it needs no login."""
    return render(request, "kiosk/index.html", {})


ROUTES = [kiosk_home]
