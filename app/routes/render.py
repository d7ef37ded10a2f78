"""One helper decides full page or named block, so every URL serves both a browser and htmx."""

from __future__ import annotations

from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Template


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
    """The full `template`, or only `block` of it for an htmx swap; always `Vary: HX-Request`."""
    all_headers = {"Vary": "HX-Request", **(headers or {})}
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


# Use as `data: Annotated[SomeForm, FORM]` for an HTML form post.
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
