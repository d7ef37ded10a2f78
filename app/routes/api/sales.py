"""JSON API v1 for sales and returns (bearer token): record a sale once per key, read it, refund it."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import JSONBody

from app.components import sales
from app.components.core.errors import ValidationFailed
from app.components.core.roles import MANAGER_ROLES, PHARMACIST_ROLES, RETURN_ROLES, SALE_ROLES
from app.i18n import _
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role

SaleNo = Annotated[str, s.SALE_NO]


def _forbidden(message: str) -> Response:
    return Response({"errors": [{"field": None, "message": message}]}, status_code=403)


def _renamed(exc: ValidationFailed) -> ValidationFailed:
    """The component's field names as the API's body names them."""
    names = {"override": "allergy_override"}
    return ValidationFailed({names.get(k, k): v for k, v in exc.errors.items()})


@post(
    "/sales",
    guards=[requires_role(SALE_ROLES)],
    security=SECURITY,
    tags=["sales"],
    responses={
        201: s.ok(s.SaleOut, "The sale, recorded now."),
        200: s.ok(s.SaleOut, "The same idempotency key again: the sale it made, unchanged (nothing recorded twice)."),
        403: s.error(403, "The token's role may not sell, or a store's token named another store."),
        409: s.error(
            409,
            "Open allergy alerts: high ones without `allergy_override`, warnings not `acknowledged`.",
            s.ConflictBody,
        ),
    },
)
async def create_sale(request: Request, data: JSONBody[s.SaleIn]) -> Response:
    """Record a sale: 201 with `sale_no`, `totals`, `points_earned`, `warnings` and `approvals`; the same
    `idempotency_key` again → 200 with the same sale; 409 while allergy alerts are open: `conflicts` (high: they
    need `allergy_override` by a pharmacist) and `unacknowledged` (warnings: each needs its line and recorded class
    in `acknowledged`); 422 with field errors (unknown code, stock short, unpaid, Rx without prescription …);
    403 for another store."""
    user = request.user
    try:
        store_id = await sales.selling_store(user, data.store)
        override = None
        if data.allergy_override is not None and (data.allergy_override.reason or "").strip():
            if user.role not in PHARMACIST_ROLES:
                raise ValidationFailed(
                    {"allergy_override": _("Only a pharmacist or store manager may override an allergy.")}
                )
            override = sales.Override(reason=data.allergy_override.reason.strip(), approved_by=user.id)
        prescription = None
        if data.prescription is not None:
            prescription = sales.Prescription(
                number=data.prescription.number,
                hospital=data.prescription.hospital,
                verified_by=user.id if user.role in PHARMACIST_ROLES else None,
            )
        req = sales.SaleRequest(
            idempotency_key=data.idempotency_key,
            store_id=store_id,
            member_no=(data.member_no or "").strip() or None,
            lines=[
                sales.LineRequest(code=line.code, qty=line.qty, trace_codes=tuple(line.trace_codes))
                for line in data.lines
            ],
            coupon_codes=list(data.coupon_codes),
            tenders=[sales.TenderRequest(t.kind, t.amount, t.reference) for t in data.tenders],
            override=override,
            prescription=prescription,
            acknowledged=tuple(
                sales.Acknowledgement(line_no=a.line_no, allergen_class=a.allergen_class, by=user.id)
                for a in data.acknowledged
            ),
        )
        result = await sales.record_sale(req, user)
    except sales.AllergyBlocked as blocked:
        return Response(
            {
                "conflicts": blocked.conflicts,
                "unacknowledged": blocked.unacknowledged,
                "errors": [{"field": "allergy_override", "message": c["message"]} for c in blocked.conflicts]
                + [{"field": "acknowledged", "message": c["message"]} for c in blocked.unacknowledged],
            },
            status_code=409,
        )
    except sales.NotPermitted as exc:
        return _forbidden(exc.message)
    except ValidationFailed as exc:
        raise _renamed(exc) from None
    return Response(result.sale.as_json(), status_code=201 if result.created else 200)


@get(
    "/sales/{sale_no:str}",
    guards=[requires_role(SALE_ROLES | MANAGER_ROLES)],
    security=SECURITY,
    tags=["sales"],
    responses={200: s.ok(s.SaleOut, "The sale.")},
)
async def read_sale(request: Request, sale_no: SaleNo) -> dict:
    """A sale with lines, tenders, points and returns; 404 when unknown (or in another store, for store roles)."""
    return (await sales.get_sale(sale_no, request.user)).as_json()


@post(
    "/sales/{sale_no:str}/returns",
    guards=[requires_role(RETURN_ROLES)],
    security=SECURITY,
    tags=["sales"],
    responses={
        201: s.ok(s.ReturnWithSale, "The refund, recorded now, with the sale after it."),
        200: s.ok(s.ReturnWithSale, "The same idempotency key again: the refund it made, unchanged."),
    },
)
async def create_return(request: Request, sale_no: SaleNo, data: JSONBody[s.ReturnIn]) -> Response:
    """Refund lines (`[{line_no, qty}]`) or the whole rest of a sale: 201 with the return (its `tenders`: where the
    money went, from which of the sale's tenders) and the sale; the same key again → 200; 422 (no reason, more than
    is left, another tender without a reason, a dispensed medicine the chain refuses or without a store manager's
    `approval`); 404 when the sale is unknown."""
    req = sales.ReturnRequest(
        idempotency_key=data.idempotency_key,
        sale_no=sale_no,
        lines=[(line.line_no, line.qty) for line in data.lines] if data.lines is not None else None,
        reason=data.reason,
        refund_kind=data.refund_to.kind if data.refund_to else "",
        refund_reason=data.refund_to.reason if data.refund_to else "",
        approver_username=data.approval.username if data.approval else "",
        approver_pin=data.approval.pin if data.approval else "",
    )
    try:
        result = await sales.return_sale(req, request.user)
    except sales.NotPermitted as exc:
        return _forbidden(exc.message)
    body = {**result.ret.as_json(), "sale": result.sale.as_json()}
    return Response(body, status_code=201 if result.created else 200)


ROUTES = [create_sale, read_sale, create_return]
