"""The JSON API's request and response bodies and its error answers, as the OpenAPI schema documents them.

Request bodies are msgspec Structs: their types, enums, bounds and required fields are both what the schema
says and what decoding enforces (a body that breaks them is a 422 naming the field, see app.routes.errors); unknown
fields are refused, so a misspelt field never silently falls back to its default. Rules that need the database
(an unknown member, stock, consent) stay in the components and answer 422 too. Response Structs only document.
Error messages come from app.routes.errors.
"""

import inspect
import re
from copy import copy
from dataclasses import dataclass, is_dataclass
from datetime import date
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from litestar import Response
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin  # no public name in 2.x
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation, Schema
from litestar.params import Parameter

from app.components import allergies, consents, health, members, sales
from app.components.core import bounds
from app.components.core.roles import ALL_ROLES
from app.routes.guards import allowed_roles

# ---------------------------------------------------------------- value sets


def one_of(values: Any) -> Any:
    """A Literal of the given strings: an enum in the schema, refused otherwise."""
    return Literal[tuple(values)]  # type: ignore[valid-type]


# FHIR AdministrativeGender codes besides the stored M/F/U: male → M, female → F, other and unknown → U (the
# record has no "other": U reads "not stated").
FHIR_GENDERS = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
Gender = Annotated[
    one_of((*members.GENDERS, *FHIR_GENDERS)),
    msgspec.Meta(description="M, F or U (not stated); or FHIR male, female, other, unknown (stored as M, F, U, U)."),
]
AllergenClass = one_of(allergies.allergen_classes())
Criticality = one_of(allergies.CRITICALITIES)
TenderKind = one_of(sales.TENDER_KINDS)
ConsentPurpose = one_of(consents.ALL_PURPOSES)
ConsentChannel = one_of(consents.CHANNELS)


def stored_gender(value: str | None) -> str | None:
    """The stored code (M/F/U) of an accepted gender value."""
    return FHIR_GENDERS.get(value, value) if value is not None else None


def text(max_length: int, description: str = "", example: str | None = None, min_length: int = 0) -> Any:
    """A string of bounded length."""
    extra: dict[str, Any] = {"max_length": max_length, "min_length": min_length or None}
    if description:
        extra["description"] = description
    if example is not None:
        extra["examples"] = [example]
    return Annotated[str, msgspec.Meta(**{k: v for k, v in extra.items() if v is not None})]


def documented(description: str, example: Any = None, **schema: Any) -> msgspec.Meta:
    """Schema keywords (minimum, maximum …) that a component enforces with its own field messages, so decoding
    must not stop at the first of them."""
    examples = [example] if example is not None else None
    return msgspec.Meta(description=description, examples=examples, extra_json_schema={"extra": schema})


Fen = Annotated[int, msgspec.Meta(gt=0, le=bounds.MAX_FEN, description="fen (¥0.01)")]
Qty = Annotated[int, msgspec.Meta(ge=1, le=bounds.MAX_QTY)]
Key = text(200, "Makes a retry return the first result instead of acting twice.", "pos-0001-20261101-42", 1)

# Every API handler names the bearer token (`yaoshi token add`) as its security.
SECURITY = [{"bearer": []}]

# Path and query parameters (the schema's example values are the demo data's).
MEMBER_NO = Parameter(
    description="A member number (10 digits).",
    max_length=40,
    examples=[Example(value="8000000011")],
)
SALE_NO = Parameter(description="A sale number.", max_length=40, examples=[Example(value="SSH00100000001")])
TIMELINE_LIMIT = Parameter(ge=1, le=500, description="At most this many events.")


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are refused."""


# ---------------------------------------------------------------- errors


class ErrorItem(msgspec.Struct):
    field: Annotated[str | None, msgspec.Meta(description="The body field or parameter (lines.0.qty), or null.")]
    message: str


class ErrorBody(msgspec.Struct):
    """Every error answer: one item per field (`field` null for the request as a whole), messages in the
    request's Accept-Language (Chinese by default)."""

    errors: list[ErrorItem]


ERROR_TEXT = {
    400: "The body is not valid JSON.",
    401: "No valid bearer token (missing, unknown, revoked, or its staff account is inactive).",
    403: "The token's role may not do this (a store's token: not in another store).",
    404: "What the path names does not exist; the message says what was not found.",
    409: "A conflict the caller must resolve first.",
    422: "A field is missing, of the wrong type, out of its bounds or against a rule: one error per field.",
}


def error(status: int, description: str | None = None, body: type = ErrorBody) -> ResponseSpec:
    """An error answer with its body."""
    return ResponseSpec(data_container=body, description=description or ERROR_TEXT[status], generate_examples=False)


def ok(body: type, description: str) -> ResponseSpec:
    """A success answer with its body."""
    return ResponseSpec(data_container=body, description=description, generate_examples=False)


def replay(description: str = "The same key again: the first result, unchanged (nothing done twice).") -> ResponseSpec:
    """The 200 of an idempotent POST sent again."""
    return ResponseSpec(data_container=dict[str, Any], description=description, generate_examples=False)


@dataclass
class ApiOperation(Operation):
    """An API operation as documented: Litestar's own 400 "validation exception" goes (the app answers validation
    errors with 422 and `ErrorBody`); an operation with a body keeps the 400 its handler documents (not JSON)."""

    def __post_init__(self) -> None:
        found = (self.responses or {}).get("400")
        if found is not None and getattr(found, "description", None) != ERROR_TEXT[400]:
            del self.responses["400"]  # type: ignore[union-attr]


_NOT_PARAMETERS = {"request", "state", "headers", "cookies", "scope", "socket", "data"}


def document(handler: HTTPRouteHandler) -> HTTPRouteHandler:
    """A copy of an API handler whose schema lists every error it answers, each with `ErrorBody`: 401 always; 403
    unless every role may call it; 404 with a path parameter; 422 when it reads a body or a query parameter;
    400 with a body. What the handler documents itself (409, a replay's 200, its own wording) comes on top."""
    taken = set(inspect.signature(handler.fn).parameters) - {"self"}
    in_path = {name for path in handler.paths for name in re.findall(r"{(\w+)", path)}
    answers = {401: error(401)}
    roles = allowed_roles(handler)
    if roles is not None and roles != ALL_ROLES:
        answers[403] = error(403)
    if in_path:
        answers[404] = error(404)
    if "data" in taken or taken - _NOT_PARAMETERS - in_path:
        answers[422] = error(422)
    if "data" in taken:
        answers[400] = error(400)
    documented_copy = copy(handler)
    documented_copy.responses = {**answers, **(handler.responses or {})}
    documented_copy.operation_class = ApiOperation
    body = _json_body_type(handler)
    if body is not None and handler.before_request is None:
        documented_copy.before_request = strict_body(body)
    return documented_copy


def _json_body_type(handler: HTTPRouteHandler) -> type | None:
    """The Struct or dataclass a handler reads as its JSON body, if it reads one."""
    hint = get_type_hints(handler.fn, include_extras=True).get("data")
    if hint is None or get_origin(hint) is not Annotated:
        return None
    body_type, *meta = get_args(hint)
    if any(getattr(m, "media_type", RequestEncodingType.JSON) != RequestEncodingType.JSON for m in meta):
        return None
    return (
        body_type
        if isinstance(body_type, type) and (is_dataclass(body_type) or issubclass(body_type, msgspec.Struct))
        else None
    )


def strict_body(body_type: type) -> Any:
    """A before-request hook that decodes the JSON body strictly, as the schema says: `0` is no boolean and "7" no
    integer (Litestar's own decoding is lax and would take both). A missing or malformed body is left to Litestar,
    which answers it (422, 400)."""

    async def check(request: Any) -> None:
        raw = await request.body()
        if not raw.strip():
            return
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return  # not JSON at all: Litestar answers 400
        try:
            msgspec.convert(value, body_type, strict=True)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `$")
            key = where.removesuffix("`").removeprefix(".") or "data"
            raise ValidationException(
                detail=message, extra=[{"key": key, "message": message, "source": "body"}]
            ) from None

    return check


def options_handlers(handlers: list[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """One OPTIONS handler per API path, answering `Allow` with every method of the path. (Litestar makes one with
    the path's first handler and keeps it when more handlers of that path are registered, so its `Allow` missed
    them: GET /api/v1/members was not in the `Allow` of OPTIONS /api/v1/members.)"""
    methods: dict[str, set[str]] = {}
    for handler in handlers:
        for path in handler.paths:
            methods.setdefault(path, {"OPTIONS"}).update(handler.http_methods)

    def make(path: str, allow: str) -> HTTPRouteHandler:
        def options() -> Response:
            return Response(content=None, status_code=204, headers={"Allow": allow}, media_type="text/plain")

        return HTTPRouteHandler(path=path, http_method="OPTIONS", include_in_schema=False, sync_to_thread=False)(
            options
        )

    return [make(path, ", ".join(sorted(found))) for path, found in methods.items()]


class BodySchemaPlugin(StructSchemaPlugin):
    """Request bodies that refuse unknown fields say so in the schema (`additionalProperties: false`)."""

    def is_plugin_supported_field(self, field_definition: Any) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Schema:
        found = super().to_openapi_schema(field_definition, schema_creator)
        found.additional_properties = False
        return found


# ---------------------------------------------------------------- members


# A staff id of a pharmacist of the member's home store, as a number or as its digits.
StaffId = Annotated[
    Annotated[int, msgspec.Meta(ge=1, le=bounds.MAX_ID)] | Annotated[str, msgspec.Meta(pattern=r"^[1-9]\d{0,9}$")],
    msgspec.Meta(description="Staff id of a pharmacist of the home store (a number, or its digits)."),
]


class MemberIn(Body):
    """A member to register. `store` (a store code) is required for HQ tokens, else the token's store."""

    name: text(60, "The member's name.", "黄磊", 1)
    gender: Gender = "U"
    birth_date: Annotated[date | None, msgspec.Meta(description="YYYY-MM-DD; from the resident ID when absent.")] = None
    phone: text(32, "A mainland China mobile number (11 digits, +86 and spaces allowed).", "13500001234") = ""
    store: text(20, "A store code (HQ tokens must name one).", "SH001") = ""
    address: text(200) = ""
    id_number: text(32, "The 18-character resident ID number.") = ""
    member_class: one_of(members.MEMBER_CLASSES) = "member"
    organisation: text(100, "Required for a key account.") = ""
    responsible_pharmacist: StaffId | None = None
    confirm_new: Annotated[
        bool,
        msgspec.Meta(
            description="Register even though likely duplicates exist (e.g. a family sharing one phone); "
            "without it such a request is answered 409 with the duplicates."
        ),
    ] = False


class MemberPatch(Body):
    """Fields to change; an absent (or null) field is left alone, "" clears it."""

    name: text(60) | None = None
    gender: Gender | None = None
    birth_date: (
        Annotated[str, msgspec.Meta(pattern=r"^(\d{4}-\d{2}-\d{2})?$", description='YYYY-MM-DD, or "" to clear.')]
        | None
    ) = None
    phone: text(32) | None = None
    address: text(200) | None = None
    id_number: text(32) | None = None
    member_class: one_of(members.MEMBER_CLASSES) | None = None
    organisation: text(100) | None = None
    responsible_pharmacist: (
        Annotated[int, msgspec.Meta(ge=1, le=bounds.MAX_ID)]
        | Annotated[str, msgspec.Meta(pattern=r"^([1-9]\d{0,9})?$", description='Its digits, or "" to clear.')]
        | None
    ) = None


class AllergyOut(msgspec.Struct):
    id: int
    allergen_class: str
    allergen_class_label: str
    substance: str
    criticality: str
    reaction: str
    verification_status: str
    recorded_by: str | None
    recorded_at: str | None


class MemberOut(msgspec.Struct):
    """A member as the API shows them: the phone masked, allergies coded."""

    member_no: str
    name: str
    gender: Annotated[str, msgspec.Meta(description="M, F or U.")]
    birth_date: str | None
    age: int | None
    phone: Annotated[str, msgspec.Meta(description="Masked: 138****1234.")]
    home_store: str | None
    allergy_status: one_of(members.ALLERGY_STATUSES)
    allergies: list[AllergyOut]
    missing: list[str]


class MemberChanged(MemberOut):
    changed: list[str]


class MembersOut(msgspec.Struct):
    members: list[MemberOut]


class DuplicateOut(msgspec.Struct):
    member_no: str
    name: str
    phone: Annotated[str, msgspec.Meta(description="Masked.")]
    reasons: list[Literal["id_number", "phone", "name_birth"]]
    reason_labels: list[str]


class DuplicatesBody(ErrorBody):
    """Likely duplicates of the member being registered (same resident ID, same phone, same name and birth
    date); send `confirm_new: true` to register anyway."""

    duplicates: list[DuplicateOut]


class AllergyIn(Body):
    """A coded allergy (FHIR-style value sets)."""

    allergen_class: AllergenClass
    substance: text(80, "A substance of the class (its English key), e.g. amoxicillin.") = ""
    category: one_of(("", *allergies.CATEGORIES)) = ""
    criticality: Criticality = "unable-to-assess"
    reaction: one_of(allergies.REACTIONS) = ""
    severity: one_of(allergies.SEVERITIES) = ""
    verification_status: one_of(allergies.VERIFICATION_STATUSES) = "unconfirmed"
    clinical_status: one_of(allergies.CLINICAL_STATUSES) = "active"
    note: text(200) = ""


# ---------------------------------------------------------------- health


def _reading(name: str, whole: bool, example: float) -> Any:
    # A number, or the number as text (a form or a spreadsheet cell passed on as it was typed).
    lo, hi = health.BOUNDS[name]
    kind = int if whole else float
    meta = documented(f"{lo:g}–{hi:g} (a number, or one as text)", example, minimum=lo, maximum=hi)
    return Annotated[kind | str | None, meta]


class VitalIn(Body):
    """One reading: `kind` bp | glucose | weight | height (empty: every kind whose fields are present); glucose
    in mmol/L with its `glucose_context`; `measured_at` ISO 8601 (local time without an offset), absent for now."""

    kind: Annotated[one_of(("", *health.VITAL_KINDS)), msgspec.Meta(examples=["bp"])] = ""
    systolic: _reading("systolic", True, 128) = None
    diastolic: _reading("diastolic", True, 82) = None
    pulse: _reading("pulse", True, 72) = None
    glucose: _reading("glucose", False, 5.6) = None
    glucose_context: Annotated[one_of(("", *health.GLUCOSE_CONTEXTS)), msgspec.Meta(examples=["fasting"])] = ""
    weight_kg: _reading("weight_kg", False, 62.5) = None
    height_cm: _reading("height_cm", False, 165) = None
    measured_at: text(40, "ISO 8601, up to ten years ago and not in the future.", "2026-03-01T08:30") = ""


class VitalOut(msgspec.Struct):
    id: int
    kind: str
    flag: str | None
    measured_at: str
    source: str


class BmiOut(msgspec.Struct):
    value: float
    category: str


class VitalsOut(msgspec.Struct):
    member_no: str
    vitals: list[VitalOut]
    bmi: BmiOut | None


class ConditionIn(Body):
    """A condition code of the vocabulary; `source` confirmed only for pharmacists; `onset` YYYY-MM-DD, YYYY-MM or
    YYYY (not before 1900, not in the future)."""

    code: one_of(health.CONDITIONS)
    source: one_of(health.SOURCES) = "declared"
    onset: Annotated[str, msgspec.Meta(pattern=r"^(\d{4}|\d{4}-\d{2}|\d{4}-\d{2}-\d{2})?$", max_length=10)] = ""
    note: text(200) = ""


class ConditionOut(msgspec.Struct):
    id: int
    code: str
    source: str
    status: str
    onset: str | None


class TimelineEvent(msgspec.Struct):
    at: str
    kind: str
    summary: str
    staff: str | None
    store: str | None
    ref: str | None


class TimelineOut(msgspec.Struct):
    member_no: str
    events: list[TimelineEvent]


# ---------------------------------------------------------------- consents


class ConsentIn(Body):
    """A grant (`granted: true`) or withdrawal of one purpose, as the member gave it now; the staff member is the
    token's. `text_version` is the version of the wording the member was shown (the current one by default)."""

    purpose: ConsentPurpose
    granted: bool
    channel: ConsentChannel = "api"
    text_version: text(20, "The consent text's version.", consents.TEXT_VERSION) = consents.TEXT_VERSION


class ConsentOut(msgspec.Struct):
    """What is in force for one purpose (never asked: not granted, `at` null)."""

    purpose: str
    label: str
    granted: bool
    at: str | None
    channel: str
    staff: str | None
    text_version: str


class ConsentPurposeOut(ConsentOut):
    text: Annotated[str, msgspec.Meta(description="The current wording the member agrees to.")]


class ConsentsOut(msgspec.Struct):
    member_no: str
    text_version: Annotated[str, msgspec.Meta(description="The version of the current wording.")]
    consents: list[ConsentPurposeOut]
    history: list[ConsentOut]


class ConsentChange(ConsentOut):
    member_no: str
    recorded: Annotated[bool, msgspec.Meta(description="False when this state was already in force.")]


# ---------------------------------------------------------------- sales


class SaleLineIn(Body):
    """A product by any scannable code or SKU; `trace_codes` are the 20-digit traceability codes of its units,
    each starting with the product's traceability prefix."""

    code: text(120, "EAN/GTIN, GS1 element string, traceability code or SKU.", "6900000000557", 1)
    qty: Qty = 1
    trace_codes: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^\d{20}$")]], msgspec.Meta(max_length=bounds.MAX_QTY)
    ] = msgspec.field(default_factory=list)


class TenderIn(Body):
    """A payment in fen; for points, the fen paid with points. Cash may exceed the total (change is given) up to
    the chain's limit."""

    kind: TenderKind
    amount: Fen
    reference: text(100) = ""


class OverrideIn(Body):
    """The pharmacist's reason for selling despite a high allergy alert (the token user must be a pharmacist)."""

    reason: text(500, min_length=1)


class PrescriptionIn(Body):
    """The prescription of Rx lines; verified by the token user, who must be a pharmacist."""

    number: text(60)
    hospital: text(120)


class AcknowledgedIn(Body):
    """An allergy warning (an alert of level `caution`) read and acknowledged by the token user: the line (1-based,
    in the order of `lines`) and the recorded allergen class the alert names (`recorded_class`)."""

    line_no: Annotated[int, msgspec.Meta(ge=1, le=200)]
    allergen_class: AllergenClass


class SaleIn(Body):
    """A sale. `store` is a store code (a store role's token sells in its own store only); money in fen."""

    idempotency_key: Key
    lines: Annotated[
        list[SaleLineIn], msgspec.Meta(min_length=1, max_length=200, examples=[[{"code": "6900000000557", "qty": 1}]])
    ]
    store: text(20, "", "SH001") = ""
    member_no: text(40, "", "8000000029") | None = None
    coupon_codes: Annotated[list[text(40)], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)
    tenders: Annotated[list[TenderIn], msgspec.Meta(max_length=10, examples=[[{"kind": "cash", "amount": 10000}]])] = (
        msgspec.field(default_factory=list)
    )
    allergy_override: OverrideIn | None = None
    prescription: PrescriptionIn | None = None
    acknowledged: Annotated[list[AcknowledgedIn], msgspec.Meta(max_length=200)] = msgspec.field(default_factory=list)


class ReturnLineIn(Body):
    line_no: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    qty: Qty


class RefundToIn(Body):
    """Pay the refund to another tender than the sale's, with the reason (points and insurance always go back where
    they came from)."""

    kind: one_of(sales.OTHER_REFUND_KINDS)
    reason: text(200, min_length=1)


class ApprovalIn(Body):
    """A store manager's username and PIN, for dispensed Rx, antibiotic and cold-chain lines (when the chain allows
    their return at all; a store manager's own token needs none). Five wrong PINs lock the approver for 15 minutes."""

    username: text(40, min_length=1)
    pin: text(20, min_length=1)


class ReturnIn(Body):
    """A refund; without `lines`, everything not yet returned. The money goes back to the sale's tenders (points
    first, cash last) unless `refund_to` says otherwise."""

    idempotency_key: Key
    reason: text(200, min_length=1)
    lines: Annotated[list[ReturnLineIn], msgspec.Meta(min_length=1, max_length=200)] | None = None
    refund_to: RefundToIn | None = None
    approval: ApprovalIn | None = None


class Totals(msgspec.Struct):
    subtotal: int
    line_discount: int
    coupon_discount: int
    total: int
    paid: int
    change: int
    refunded: int


class SaleLineOut(msgspec.Struct):
    line_no: int
    sku: str
    name: str
    qty: int
    unit_price: int
    total: int
    returned_qty: int


class TenderOut(msgspec.Struct):
    kind: str
    amount: int
    reference: str


class RefundTenderOut(msgspec.Struct, rename={"from_kind": "from"}):
    kind: Annotated[str, msgspec.Meta(description="Where the money went.")]
    from_kind: Annotated[str, msgspec.Meta(description="Which of the sale's tenders it came from.")]
    amount: int


class ReturnOut(msgspec.Struct):
    return_no: str
    sale_no: str
    reason: str
    amount: int
    lines: list[dict[str, int]]
    tenders: list[RefundTenderOut]
    approved_by: str | None


class ApprovalOut(msgspec.Struct):
    kind: Literal[sales.APPROVAL_KINDS]  # type: ignore[valid-type]
    line_no: int | None
    allergen_class: str | None
    reason: str
    by: str
    at: str | None


class SaleOut(msgspec.Struct):
    sale_no: str
    store: str
    status: Literal["completed", "part_returned", "returned"]
    member_no: str | None
    totals: Totals
    points_earned: int
    lines: list[SaleLineOut]
    tenders: list[TenderOut]
    returns: list[ReturnOut]
    warnings: list[str]
    approvals: list[ApprovalOut]


class ReturnWithSale(ReturnOut):
    sale: SaleOut


class Conflict(msgspec.Struct):
    line_no: int
    sku: str
    name: str
    level: str
    message: str


class ConflictBody(ErrorBody):
    """Open allergy alerts: `conflicts` (high: a pharmacist's token must send `allergy_override` with a reason) and
    `unacknowledged` (warnings: each needs its line and recorded class in `acknowledged`)."""

    conflicts: list[Conflict]
    unacknowledged: list[Conflict]
