"""The chain's message settings: the weekly limit per member, delivery attempts, each store's group robot."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.response import Template

from app.components import messages
from app.components.core.errors import ValidationFailed
from app.components.core.roles import CATALOG_WRITE_ROLES
from app.routes.guards import requires_role
from app.routes.render import FORM, render

PAGE = "manager/message_settings.html"


def _form_of(current: messages.MessageSettings) -> dict[str, str]:
    form = {"weekly_cap": str(current.weekly_cap), "max_attempts": str(current.max_attempts)}
    for store_id, (kind, url) in current.robots.items():
        form[f"robot_kind_{store_id}"] = kind
        form[f"robot_url_{store_id}"] = url
    return form


async def _ctx(request: Request, form: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "form": form,
        "errors": {},
        "saved": False,
        "stores": await messages.stores(),
        "robot_kinds": [(k, messages.channel_label(k)) for k in messages.ROBOT_KINDS],
        "may_edit": request.user.role in CATALOG_WRITE_ROLES,
        **extra,
    }


@get("/messages/settings")
async def message_settings_page(request: Request) -> Template:
    """The message settings (HQ administrators may change them)."""
    form = _form_of(await messages.message_settings())
    return render(request, PAGE, await _ctx(request, form), block="message_settings_form")


@post("/messages/settings", guards=[requires_role(CATALOG_WRITE_ROLES)])
async def message_settings_save(request: Request, data: Annotated[dict[str, str], FORM]) -> Template:
    """Save the message settings (audited); a bad value comes back next to its field, nothing typed lost."""
    store_ids = [s["id"] for s in await messages.stores()]
    try:
        new = messages.parse_settings_form(data, store_ids)
        await messages.save_message_settings(new, request.user)
    except ValidationFailed as exc:
        ctx = await _ctx(request, data, errors=exc.errors)
        return render(request, PAGE, ctx, block="message_settings_form", status_code=422)
    return render(request, PAGE, await _ctx(request, _form_of(new), saved=True), block="message_settings_form")


ROUTES = [message_settings_page, message_settings_save]
