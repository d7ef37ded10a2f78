"""The one htmx rule: a URL answers a normal request with the full page and an htmx request with the named block
(or partial), always with `Vary: HX-Request`; and one way to send a browser or htmx to another page."""

from __future__ import annotations

from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, Response
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

VARY = {"Vary": "HX-Request"}


def is_htmx(request: Request) -> bool:
    """Any request htmx sent (a boosted navigation included)."""
    return request.headers.get("hx-request") == "true"


def wants_partial(request: Request) -> bool:
    """An htmx request that is not a boosted navigation gets just the block."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """The full `template`, or only `block` of it for an htmx swap; always `Vary: HX-Request`.

    Without a block the template is a partial file (`_name.html`) that only lives inside other pages: every
    request gets it as it is.
    """
    all_headers = {**VARY, **(headers or {})}
    # Named, so Litestar need not guess it from the file name (pathlib + mimetypes) on every response.
    media_type = MediaType.HTML if template.endswith(".html") else None
    if block and wants_partial(request):
        return HTMXBlockTemplate(
            template_name=template,
            block_name=block,
            context=context or {},
            status_code=status_code,
            headers=all_headers,
            media_type=media_type,
        )
    return Template(
        template_name=template,
        context=context or {},
        status_code=status_code,
        headers=all_headers,
        media_type=media_type,
    )


def go(request: Request, url: str, htmx_status: int = 200) -> Response:
    """Another page: htmx follows `HX-Redirect` (answered with `htmx_status`), a plain request the 303."""
    if is_htmx(request):
        return Response("", status_code=htmx_status, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


# Use as `data: Annotated[SomeForm, FORM]` for an HTML form post.
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
