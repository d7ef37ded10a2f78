"""What the counter asks of the sale component (a sale: lines, tenders, approvals; a return), the errors it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Tender kinds in the order the counter offers them.
TENDER_KINDS = ("cash", "bank_card", "wechat", "alipay", "insurance", "points")


@dataclass(frozen=True)
class LineRequest:
    """One cart line: a scannable code or SKU (`code`) or an already resolved `product_id`; `line_discount` is
    fen off the whole line; `trace_codes` are the 20-digit traceability codes scanned for its units."""

    code: str = ""
    product_id: int | None = None
    qty: int = 1
    line_discount: int = 0
    trace_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenderRequest:
    """One payment: kind in TENDER_KINDS, amount in fen (for points: fen paid with points)."""

    kind: str
    amount: int
    reference: str = ""


@dataclass(frozen=True)
class Override:
    """A pharmacist's override of high allergy alerts: the reason, the approving staff id and when (None: now).

    `covers` are the (product id, recorded allergen class) alerts the pharmacist saw when they overrode: an alert
    that came up since (an allergy recorded meanwhile at another counter, on the profile or through the API)
    blocks again until they look at it. None (the API, where the override comes with the sale itself) covers the
    alerts of that very request."""

    reason: str
    approved_by: int
    at: datetime | None = None
    covers: tuple[tuple[int, str], ...] | None = None


@dataclass(frozen=True)
class Prescription:
    """The prescription of the Rx lines; `verified_by` is the pharmacist's staff id once checked, at `verified_at`."""

    number: str
    hospital: str
    image: str = ""
    verified_by: int | None = None
    verified_at: datetime | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """A tap that acknowledges the allergy warning (level `caution`) of line `line_no` (1-based) for the recorded
    allergen class: who (`by`, a selling staff id of the store) and when (None: now)."""

    line_no: int
    allergen_class: str
    by: int
    at: datetime | None = None


@dataclass(frozen=True)
class SaleRequest:
    """Everything a sale needs. `idempotency_key` makes retries of the same sale one sale."""

    idempotency_key: str
    store_id: int
    member_no: str | None
    lines: list[LineRequest]
    coupon_codes: list[str] = field(default_factory=list)
    tenders: list[TenderRequest] = field(default_factory=list)
    override: Override | None = None
    prescription: Prescription | None = None
    oversell_approved_by: int | None = None
    oversell_approved_at: datetime | None = None
    acknowledged: tuple[Acknowledgement, ...] = ()


@dataclass(frozen=True)
class ReturnRequest:
    """A refund: `lines` as (line_no, qty), or None for everything not yet returned.

    The money goes back to the sale's tenders (REFUND_ORDER) unless `refund_kind` names another tender of
    OTHER_REFUND_KINDS, which needs `refund_reason`. Dispensed Rx, antibiotic and cold-chain lines follow the
    chain's rule: refused, or approved by a store manager (the actor, or `approver_username` with their PIN).
    """

    idempotency_key: str
    sale_no: str
    lines: list[tuple[int, int]] | None
    reason: str
    refund_kind: str = ""
    refund_reason: str = ""
    approver_username: str = ""
    approver_pin: str = ""


class AllergyBlocked(Exception):
    """A sale with allergy alerts still open: `conflicts` block until a pharmacist overrides them, `unacknowledged`
    warnings wait for one acknowledging tap; both are dicts (line_no, sku, name, level, recorded_class, message)."""

    def __init__(self, conflicts: list[dict], unacknowledged: list[dict] | None = None) -> None:
        self.conflicts = conflicts
        self.unacknowledged = list(unacknowledged or [])
        super().__init__("; ".join(c["message"] for c in [*conflicts, *self.unacknowledged]))


class NotPermitted(Exception):
    """The actor's role may not do this (routes answer 403); `.message` says what."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Replay(Exception):
    """Another transaction already recorded this idempotency key: roll ours back and return theirs."""
