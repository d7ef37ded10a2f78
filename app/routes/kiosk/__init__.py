"""The kiosk surface (`/kiosk`, a touchscreen at the store entrance): no staff log in there, so its router has no
staff guard; the welcome screen shows no personal data."""

from litestar import Router

from app.routes.kiosk import home

router = Router(path="/kiosk", include_in_schema=False, route_handlers=[*home.ROUTES])

__all__ = ["router"]
