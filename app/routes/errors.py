"""Exception handlers: an error is a page (or, for htmx, just its notice: the one rule of app.routes.render) or
the API's JSON `{"errors": [{"field", "message"}]}`, in the request's language."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)

from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import DeviceRequired
from app.i18n import N_, _
from app.routes.render import go, render

log = logging.getLogger("yaoshi")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page(request: Request, status: int, title: str, message: str) -> Response:
    """The error page, or just its notice when htmx will swap it into part of a page."""
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        block="error_notice",
        status_code=status,
    )


def _not_authorized(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "authentication required"}]}, status_code=401)
    return go(request, "/login?next=" + quote(request.url.path), htmx_status=401)


def _forbidden(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "your role may not do this"}]}, status_code=403)
    return _page(request, 403, _("Not allowed"), _("Your role does not give access to this page."))


def _not_found(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotFound) else _("No page at %(path)s.") % {"path": request.url.path}
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": message}]}, status_code=404)
    return _page(request, 404, _("Not found"), message)


def _invalid(request: Request, exc: Exception) -> Response:
    if not _is_api(request):
        messages = (
            list(exc.errors.values())
            if isinstance(exc, ValidationFailed)
            else [item["message"] for item in _validation_errors(exc)]  # type: ignore[arg-type]
        )
        return _page(
            request,
            422,
            _("Check your input"),
            "; ".join(messages) or _("The form could not be read. Reload the page and try again."),
        )
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_json(), status_code=422)
    assert isinstance(exc, ValidationException)
    return Response({"errors": _validation_errors(exc)}, status_code=422)


# What msgspec and Litestar say about a request that does not fit its declared types, to readable messages.
_TYPE_NAMES = {
    "int": N_("a whole number"),
    "float": N_("a number"),
    "str": N_("text"),
    "bool": N_("true or false"),
    "object": N_("an object"),
    "array": N_("a list"),
    "null": N_("null"),
}
_EXPECTED = re.compile(r"Expected `(\w+)`, got `(\w+)`")
_BOUND = re.compile(r"Expected `(?:int|float)` (>=|<=|>|<) (-?[\d.e+]+)")
_LENGTH = re.compile(r"Expected `(str|array|object)` of length (>=|<=) (\d+)")
_MISSING_FIELD = re.compile(r"Object missing required field `(.+)`")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.+)`")
_ENUM = re.compile(r"Invalid enum value (.+)")
_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '(.+?)'")


def _field_path(key: str | None) -> str | None:
    """Litestar's key of a body field (`lines[0].qty`, `data` for the body itself) as the API's field names are
    spelled (`lines.0.qty`; None for the body)."""
    if not key or key == "data":
        return None
    return re.sub(r"\[(\d+)\]", r".\1", key).removeprefix("data.")


def _readable(key: str | None, message: str) -> dict[str, str | None]:
    """One error item with a message a person can act on, in the request's language."""
    field = _field_path(key)
    joined = lambda name: f"{field}.{name}" if field else name  # noqa: E731
    if message in ("'data'", "Object missing required field `data`") and field is None:
        return {"field": None, "message": _("The request needs a JSON body: an object with the fields it takes.")}
    if found := _MISSING_FIELD.fullmatch(message):
        return {"field": joined(found[1]), "message": _("This field is required.")}
    if found := _UNKNOWN_FIELD.fullmatch(message):
        return {"field": joined(found[1]), "message": _("Unknown field: this request does not take it.")}
    if found := _EXPECTED.fullmatch(message):
        return {
            "field": field,
            "message": _("Expected %(expected)s, got %(got)s.")
            % {"expected": _(_TYPE_NAMES.get(found[1], found[1])), "got": _(_TYPE_NAMES.get(found[2], found[2]))},
        }
    if found := _BOUND.fullmatch(message):
        number = found[2].removesuffix(".0")
        texts = {
            ">=": _("Must be at least %(n)s."),
            "<=": _("Must be at most %(n)s."),
            ">": _("Must be more than %(n)s."),
            "<": _("Must be less than %(n)s."),
        }
        return {"field": field, "message": texts[found[1]] % {"n": number}}
    if found := _LENGTH.fullmatch(message):
        n = int(found[3])
        if found[1] == "str":
            text = _("At least %(n)s characters.") if found[2] == ">=" else _("At most %(n)s characters.")
        else:
            text = _("At least %(n)s items.") if found[2] == ">=" else _("At most %(n)s items.")
        return {"field": field, "message": text % {"n": n}}
    if message.startswith("Expected `str` matching regex"):
        return {"field": field, "message": _("Not in the expected form (see the API schema).")}
    if found := _ENUM.fullmatch(message):
        return {"field": field, "message": _("%(value)s is not one of the allowed values.") % {"value": found[1]}}
    if message.startswith("Invalid RFC3339 encoded date"):
        return {"field": field, "message": _("Enter a date as YYYY-MM-DD.")}
    if message == "Number out of range":
        return {"field": field, "message": _("The number is out of range.")}
    if found := _MISSING_PARAMETER.match(message):
        return {"field": found[2], "message": _("This parameter is required.")}
    return {"field": field, "message": message}


def _validation_errors(exc: ValidationException) -> list[dict[str, str | None]]:
    """A ValidationException's items (or its detail) as the API's error list."""
    items = [item for item in exc.extra or [] if isinstance(item, dict)] if isinstance(exc.extra, list) else []
    if not items:
        return [_readable(None, str(exc.detail))]
    return [_readable(item.get("key"), str(item.get("message", "invalid"))) for item in items]


def _http_error(request: Request, exc: HTTPException) -> Response:
    if _is_api(request):
        message = str(exc.detail)
        if isinstance(exc.__cause__, SerializationException):  # the body could not be decoded at all
            detail = message.removeprefix("JSON is malformed: ")
            message = _("The body is not valid JSON (%(detail)s).") % {"detail": detail}
        return Response(
            {"errors": [{"field": None, "message": message}]}, status_code=exc.status_code, headers=exc.headers
        )
    if exc.status_code == 403:
        # CSRF failures land here: the page is stale, so say how to recover.
        return _page(request, 403, _("Not allowed"), _("This form has expired. Reload the page and try again."))
    return _page(request, exc.status_code, _("Something went wrong"), str(exc.detail))


def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        return Response({"errors": [{"field": None, "message": "internal error"}]}, status_code=500)
    return _page(request, 500, _("Something went wrong"), _("The error was logged. Please try again."))


def device_required(request: Request, exc: Exception) -> Response:
    """A cart action from a tablet that is not (or no longer) registered: to the counter, which asks its name."""
    return go(request, "/counter", htmx_status=409)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: _not_authorized,
    PermissionDeniedException: _forbidden,
    NotFoundException: _not_found,
    NotFound: _not_found,
    ValidationFailed: _invalid,
    ValidationException: _invalid,
    DeviceRequired: device_required,
    HTTPException: _http_error,
    500: _server_error,
}
