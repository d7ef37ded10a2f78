"""Bounds on numbers and dates accepted from outside: the limits every route and component shares, and checks."""

from __future__ import annotations

from datetime import date, datetime

from app.components.core.errors import ValidationFailed
from app.i18n import _

# Money in fen: ¥1,000,000 is above any price, line, payment or refund one store takes in one go.
MAX_FEN = 100_000_000
# Packs of one product on one sale line (the counter's and the API's limit).
MAX_QTY = 9999
# Pages of a paged list: 10,000 pages of 200 rows is past any list a person pages through.
MAX_PAGE = 10_000
MAX_PER_PAGE = 200
# Row ids in URLs (database integer keys: PostgreSQL's `integer` holds up to 2³¹ − 1).
MAX_ID = 2**31 - 1
# Dates of things that happened to a living member or a pack on a shelf.
MIN_YEAR = 1900
MAX_YEAR = 2200
# The largest RMB banknote: cash may always exceed the total by one of them (¥0.50 paid with a ¥100 note).
LARGEST_BANKNOTE_FEN = 10_000


def check_int(value: object, field: str, lo: int, hi: int, errors: dict[str, str] | None = None) -> int | None:
    """`value` as an int within lo…hi; otherwise the field's error (raised, or put into `errors` and None)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if ok:
        return int(value)  # type: ignore[call-overload]
    message = _("Enter a whole number from %(lo)s to %(hi)s.") % {"lo": lo, "hi": hi}
    if errors is None:
        raise ValidationFailed({field: message})
    errors[field] = message
    return None


def year_in_range(value: date | datetime) -> bool:
    """Whether a date lies in the years any record of a member, a sale or a pack may carry (arithmetic on it, such
    as a time zone change, then stays within what Python's dates can hold)."""
    return MIN_YEAR <= value.year <= MAX_YEAR


def cash_cap(total: int, multiple: int) -> int:
    """The most cash a sale of `total` fen may be tendered: `multiple` × the total, and always the total plus one
    largest banknote (a customer pays a small total with a ¥100 note)."""
    return max(total * multiple, total + LARGEST_BANKNOTE_FEN)
