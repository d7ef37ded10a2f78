"""JSON API v1 for messages (bearer token), as the SMS gateway calls it: a member's reply, a delivery receipt.

A reply of STOP, TD, T or 退订 opts the member out of marketing and care SMS at once.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, post
from litestar.params import JSONBody

from app.components import messages
from app.components.core.roles import MEMBER_WRITE_ROLES
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role


class InboundIn(s.Body):
    """A member's SMS reply: the phone it came from and its text."""

    phone: s.text(20, "The mobile number the reply came from.", "13800138000", min_length=1)
    text: s.text(messages.TEXT_MAX, "The reply as the member typed it.", "退订")


class InboundOut(msgspec.Struct):
    member_nos: Annotated[list[str], msgspec.Meta(description="The live members with this phone.")]
    opted_out: Annotated[bool, msgspec.Meta(description="True when the reply was a STOP (STOP, TD, T, 退订).")]
    cancelled: Annotated[int, msgspec.Meta(description="Queued care and marketing messages no longer sent.")]


@post(
    "/messages/inbound",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["messages"],
    status_code=200,
    responses={
        200: s.ok(InboundOut, "The reply was matched; a STOP withdrew SMS consent and cancelled queued messages."),
        404: s.error(404, "No member has this phone number."),
    },
)
async def inbound(request: Request, data: JSONBody[InboundIn]) -> Response:
    """An SMS reply forwarded by the gateway: a STOP opts every member with that phone out of marketing and care
    SMS (consent withdrawn, channel sms) and cancels their queued ones; 404 when no member has the phone; 422
    when it is not a mobile number."""
    result = await messages.receive(data.phone, data.text, actor=request.user)
    return Response(
        {"member_nos": list(result.member_nos), "opted_out": result.opted_out, "cancelled": result.cancelled},
        status_code=200,
    )


class ReceiptIn(s.Body):
    """The gateway's delivery receipt for one message (the key it was sent with, `$key` in the body template)."""

    key: s.text(200, "The message key (the Idempotency-Key of the send).", "care:17:0", min_length=1)
    status: s.text(20, "delivered (the phone got it) or undelivered.", "delivered", min_length=1)
    error: s.text(messages.ERROR_MAX, "The gateway's reason when undelivered.", "") = ""


class ReceiptOut(msgspec.Struct):
    key: str
    status: Annotated[str, msgspec.Meta(description="The message's status now: delivered, or failed.")]
    changed: Annotated[bool, msgspec.Meta(description="False when an earlier receipt already answered.")]


@post(
    "/messages/receipts",
    guards=[requires_role(MEMBER_WRITE_ROLES)],
    security=SECURITY,
    tags=["messages"],
    status_code=200,
    responses={
        200: s.ok(ReceiptOut, "Recorded (or already recorded: the first receipt stands)."),
        404: s.error(404, "No message has this key."),
        409: s.error(409, "The message has not been sent yet; send the receipt again later."),
    },
)
async def receipt(data: JSONBody[ReceiptIn]) -> Response:
    """A delivery receipt: a sent message becomes delivered, or failed with the gateway's error (listed for
    managers); 404 for an unknown key; 409 while the message is not sent yet (the gateway retries)."""
    try:
        result = await messages.record_receipt(data.key, data.status, data.error)
    except messages.NotSentYet as early:
        return Response({"errors": [{"field": "key", "message": early.message}]}, status_code=409)
    return Response({"key": result.key, "status": result.status, "changed": result.changed}, status_code=200)


ROUTES = [inbound, receipt]
