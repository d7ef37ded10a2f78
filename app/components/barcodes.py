"""One parser for what a scanner types: EAN/UPC/GTIN, GS1 element strings (DataMatrix) and China's drug
traceability code (药品追溯码).

Pure functions, no database: `parse_scan(raw)` returns a `Scan` or raises `BadScan` with a message in the current
language. GS1 rules followed: mod-10 check digit; AIs (01) GTIN-14, (17) expiry YYMMDD with day 00 = last day of the
month and the GS1 century rule, (10) batch and (21) serial of at most 20 characters, variable-length fields ended by
GS (ASCII 29) or the end of the data; symbology prefixes `]d2`, `]C1`, `]Q3`; the human-readable "(01)…(17)…" form.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from app.i18n import _

GS = "\x1d"
# What scanners send for GS when not configured to send the control character itself.
_GS_SPELLINGS = ("<GS>", "<gs>", "\\x1d", "\\x1D", "␝")
_SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3")
_FIXED_LENGTH = {"01": 14, "17": 6}
_VARIABLE_MAX = {"10": 20, "21": 20}
# GS1 AI encodable character set 82 (what batch and serial numbers may contain).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+")
_BRACKETED = re.compile(r"\((\d{2,4})\)([^()]*)")
_GTIN_LENGTHS = (8, 12, 13, 14)
TRACEABILITY_LENGTH = 20
TRACEABILITY_PRODUCT_DIGITS = 7

Kind = Literal["gtin", "gs1", "traceability"]


class BadScan(ValueError):
    """A scanned or typed code that is not usable; `.message` says why, in the current language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Scan:
    """What a code says. `gtin` is the 14-digit GTIN (None for a traceability code)."""

    kind: Kind
    raw: str
    gtin: str | None = None
    expiry: date | None = None
    batch: str | None = None
    serial: str | None = None
    traceability_code: str | None = None
    product_key: str | None = None


def gs1_check_digit(digits_without_check: str) -> str:
    """The GS1 mod-10 check digit for `digits_without_check` (weights 3,1,3,… from the right)."""
    if not digits_without_check.isdigit() or not digits_without_check.isascii():
        raise ValueError("digits only")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits_without_check)))
    return str((10 - total % 10) % 10)


def has_valid_check_digit(code: str) -> bool:
    """Whether the last digit of `code` is the GS1 check digit of the rest."""
    return len(code) >= 2 and code.isascii() and code.isdigit() and gs1_check_digit(code[:-1]) == code[-1]


def synthetic_gtin13(serial: int) -> str:
    """A synthetic EAN-13 for demo data: prefix 69 (China), 10 digits from `serial`, a valid check digit."""
    if not 0 <= serial < 10**10:
        raise ValueError("serial must be between 0 and 9,999,999,999")
    body = f"69{serial:010d}"
    return body + gs1_check_digit(body)


def _bad_check_digit(code: str) -> BadScan:
    return BadScan(_("The check digit of %(code)s is wrong: scan again or type the code.") % {"code": code})


def _unreadable(raw: str) -> BadScan:
    return BadScan(_("%(code)s is not a barcode, GS1 code or drug traceability code.") % {"code": raw})


def _gtin14(code: str) -> str:
    if not has_valid_check_digit(code):
        raise _bad_check_digit(code)
    return code.zfill(14)


def _expiry(value: str, today: date) -> date:
    """YYMMDD with the GS1 century rule (within −49/+50 years of today) and day 00 = end of month."""
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise BadScan(_("The expiry date %(value)s is not a valid date.") % {"value": value})
    yy, month, day = int(value[:2]), int(value[2:4]), int(value[4:])
    century = today.year // 100 * 100
    diff = yy - today.year % 100
    if diff >= 51:
        century -= 100
    elif diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= month <= 12:
        raise BadScan(_("The expiry date %(value)s is not a valid date.") % {"value": value})
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        day = last
    if day > last:
        raise BadScan(_("The expiry date %(value)s is not a valid date.") % {"value": value})
    return date(year, month, day)


def _elements_from_brackets(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    for match in _BRACKETED.finditer(text):
        if match.start() != pos:
            raise _unreadable(text)
        out.append((match.group(1), match.group(2)))
        pos = match.end()
    if pos != len(text) or not out:
        raise _unreadable(text)
    return out


def _elements_from_string(data: str) -> list[tuple[str, str]]:
    """Split an unbracketed element string: fixed-length AIs by length, variable ones at GS or the end."""
    out, pos = [], 0
    while pos < len(data):
        if data[pos] == GS:  # a GS after a fixed-length field is allowed
            pos += 1
            continue
        ai = data[pos : pos + 2]
        pos += 2
        if ai in _FIXED_LENGTH:
            value = data[pos : pos + _FIXED_LENGTH[ai]]
            pos += _FIXED_LENGTH[ai]
        elif ai in _VARIABLE_MAX:
            end = data.find(GS, pos)
            end = len(data) if end < 0 else end
            value = data[pos:end]
            pos = end
        else:
            raise BadScan(_("Unknown GS1 application identifier (%(ai)s) in the code.") % {"ai": ai})
        out.append((ai, value))
    return out


def _gs1(raw: str, data: str, bracketed: bool, today: date) -> Scan:
    elements = _elements_from_brackets(data) if bracketed else _elements_from_string(data)
    fields: dict[str, str] = {}
    for ai, value in elements:
        if ai not in _FIXED_LENGTH and ai not in _VARIABLE_MAX:
            raise BadScan(_("Unknown GS1 application identifier (%(ai)s) in the code.") % {"ai": ai})
        if ai in fields:
            raise BadScan(_("The GS1 code repeats the field (%(ai)s).") % {"ai": ai})
        if ai in _FIXED_LENGTH and (len(value) != _FIXED_LENGTH[ai] or not value.isascii() or not value.isdigit()):
            raise BadScan(
                _("The field (%(ai)s) must be %(n)s digits.") % {"ai": ai, "n": _FIXED_LENGTH[ai]},
            )
        if ai in _VARIABLE_MAX:
            if len(value) > _VARIABLE_MAX[ai]:
                raise BadScan(
                    _("The field (%(ai)s) is longer than %(n)s characters.") % {"ai": ai, "n": _VARIABLE_MAX[ai]}
                )
            if not _CSET82.fullmatch(value):
                raise BadScan(_("The field (%(ai)s) is empty or has characters GS1 does not allow.") % {"ai": ai})
        fields[ai] = value
    if "01" not in fields:
        raise BadScan(_("The GS1 code has no GTIN (01)."))
    return Scan(
        kind="gs1",
        raw=raw,
        gtin=_gtin14(fields["01"]),
        expiry=_expiry(fields["17"], today) if "17" in fields else None,
        batch=fields.get("10"),
        serial=fields.get("21"),
    )


def parse_scan(raw: str, *, today: date | None = None) -> Scan:
    """Parse what a scanner (or a person) typed. `today` anchors the GS1 expiry century rule (default: today)."""
    today = today or date.today()
    text = raw.strip(" \t\r\n")
    for spelling in _GS_SPELLINGS:
        text = text.replace(spelling, GS)
    prefixed = text.startswith(_SYMBOLOGY_PREFIXES)
    if prefixed:
        text = text[3:]
    if not text:
        raise BadScan(_("Nothing was scanned."))
    if text.startswith("("):
        return _gs1(raw, text, bracketed=True, today=today)
    if not prefixed and text.isascii() and text.isdigit():
        if len(text) in _GTIN_LENGTHS:
            return Scan(kind="gtin", raw=raw, gtin=_gtin14(text))
        if len(text) == TRACEABILITY_LENGTH:
            return Scan(
                kind="traceability",
                raw=raw,
                traceability_code=text,
                product_key=text[:TRACEABILITY_PRODUCT_DIGITS],
            )
    # An element string: always when a symbology prefix or GS says so; without them, one that starts with (01).
    if prefixed or GS in text or (text.startswith("01") and len(text) > 16):
        return _gs1(raw, text.strip(GS), bracketed=False, today=today)
    raise _unreadable(raw)
