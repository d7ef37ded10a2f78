"""One parser for what a scanner types: EAN/UPC/GTIN, GS1 element strings (DataMatrix, GS1-128, DataBar) and China's
drug traceability code (药品追溯码).

Pure functions, no database: `parse_scan(raw, today=…)` returns a `Scan` or raises `BadScan` with a message in the
current language. The GS1 rules come from `biip` (its table of every GS1 application identifier with its format,
AIM symbology identifiers, GTIN-8/12/13/14 and UPC-E check digits); this module keeps what GS1 leaves to us and the
Chinese traceability-code rules.

How a scan is read:
- A symbology identifier (`]E0`, `]E4`, `]I1`, `]C1`, `]e0`, `]d2`, `]Q3`, … sent by scanners with AIM ids on) says
  what the code is: EAN/UPC/ITF-14 → a GTIN (`]E0` with 8 digits is a UPC-E, expanded); GS1-128, DataBar, GS1
  DataMatrix or GS1 QR → an element string; a plain symbology (`]C0` Code 128, `]d1`, `]Q1` …) → a 20-digit
  traceability code, or a GTIN printed in it. Anything else under an identifier is refused.
- Without one: 8, 12, 13 or 14 digits → a GTIN; 20 digits → a traceability code (first 7 digits: the product);
  "(01)…" → the human-readable GS1 form; a string with GS (ASCII 29) in it → an element string in any AI order;
  a string starting with 01 of 16 characters or more → an element string ((01) and a GTIN alone is 16 digits).
  Other unprefixed strings that happen to start with some AI are not taken for GS1: they are SKUs or aliases.
- The 20-digit rule: a 20-digit numeric string that is also a valid (01)… element string (01, a GTIN-14 with its
  check digit, then 4 digits that delimit, e.g. (20) or (91)) is read as GS1, and `traceability_alternative`
  carries its traceability reading: the catalog takes that one instead when it knows the first 7 digits as a
  traceability prefix (so a product registered by its prefix always scans), and the GS1 reading otherwise.
- Element strings: every standard AI is delimited by its defined length — predefined-length AIs by that length,
  the others at GS or the end of the data (a GS may follow any field). A scan fails only when the string cannot be
  delimited: an unknown AI, a field not in its AI's format, a variable-length field longer than its maximum (its GS
  is missing), the same AI twice with different values (twice with the same value is kept once). The sale uses
  (01) GTIN (required, check digit), (17) expiry, (10) batch and (21) serial; every element (those too) is kept in
  `Scan.ais`. (17) is YYMMDD with day 00 = the last day of the month and the GS1 century rule (General
  Specifications 7.12: the year within −49…+50 years of `today`); other dates are kept as scanned.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import MAXYEAR, MINYEAR, date
from functools import cache, lru_cache
from typing import Literal

from biip import ParseConfig, ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gtin import Gtin
from biip.symbology import GS1Symbology, SymbologyIdentifier
from biip.upc import Upc

from app.i18n import _

GS = "\x1d"
# What scanners send for GS when not configured to send the control character itself.
_GS_SPELLINGS = ("<GS>", "<gs>", "\\x1d", "\\x1D", "␝")
# Dates other than (17) are kept as scanned, not checked: an odd production date must not stop a sale. biip's own
# date reading uses the clock's year; (17) is read here against the `today` the caller gives.
_CONFIG = ParseConfig(gs1_element_strings_verify_date=False, separator_chars=(GS,))
_GS1_MESSAGES = GS1Symbology.with_gs1_messages()
_GTIN_CARRIERS = GS1Symbology.with_gtin()
_GTIN_LENGTHS = (8, 12, 13, 14)
_FIXED_DIGITS = re.compile(r"N\d\+N(\d+)")  # e.g. N2+N14: a predefined-length numeric field
_VARIABLE = re.compile(r"N\d\+[NX]\.\.(\d+)")  # e.g. N2+X..20
_BRACKETED = re.compile(r"\((\d{2,4})\)([^()]*)")
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
    """What a code says. `gtin` is the 14-digit GTIN (None for a traceability code); `ais` every GS1 element as
    (AI, value) in the scanned order; `symbology` the AIM identifier the scanner sent ("" when none);
    `traceability_alternative` the other reading of a 20-digit code that is both (see the module docstring)."""

    kind: Kind
    raw: str
    gtin: str | None = None
    expiry: date | None = None
    batch: str | None = None
    serial: str | None = None
    traceability_code: str | None = None
    product_key: str | None = None
    ais: tuple[tuple[str, str], ...] = ()
    symbology: str = ""
    traceability_alternative: Scan | None = None

    def ai(self, code: str) -> str | None:
        """The value of application identifier `code` in this scan, None when it has none."""
        return next((value for ai, value in self.ais if ai == code), None)


def gs1_check_digit(digits_without_check: str) -> str:
    """The GS1 mod-10 check digit for `digits_without_check` (weights 3,1,3,… from the right)."""
    if not digits_without_check.isascii() or not digits_without_check.isdigit():
        raise ValueError("digits only")
    return str(gs1_standard_check_digit(digits_without_check))


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


def _bad_expiry(value: str) -> BadScan:
    return BadScan(_("The expiry date %(value)s is not a valid date.") % {"value": value})


def _split(raw: str) -> tuple[SymbologyIdentifier | None, str]:
    """The symbology identifier a scanner put in front (None when there is none) and the data, GS spelt as GS."""
    text = raw.strip(" \t\r\n")
    for spelling in _GS_SPELLINGS:
        text = text.replace(spelling, GS)
    if text.startswith("]") and len(text) >= 3:
        try:
            symbology = SymbologyIdentifier.extract(text)
        except (ParseError, ValueError):  # "]" and a character no symbology has: not an identifier
            return None, text
        return symbology, text[len(symbology) :]
    return None, text


def scanned_text(raw: str) -> str:
    """What was scanned without the symbology identifier and the surrounding whitespace (a SKU or an alias on a
    plain Code 128 label still names its product when the scanner sends AIM ids)."""
    return _split(raw)[1].strip(" \t\r\n" + GS)


def _gtin14(code: str) -> str:
    """A GTIN-8/12/13/14 of ASCII digits → its GTIN-14; a wrong check digit → BadScan naming the code."""
    try:
        return Gtin.parse(code, config=_CONFIG).as_gtin_14()
    except ParseError:
        raise _bad_check_digit(code) from None


def _expiry(value: str, today: date) -> date:
    """YYMMDD with the GS1 century rule (within −49/+50 years of today) and day 00 = end of month."""
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise _bad_expiry(value)
    yy, month, day = int(value[:2]), int(value[2:4]), int(value[4:])
    century = today.year // 100 * 100
    diff = yy - today.year % 100
    if diff >= 51:
        century -= 100
    elif diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= month <= 12 or not MINYEAR <= year <= MAXYEAR:
        raise _bad_expiry(value)
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        day = last
    if day > last:
        raise _bad_expiry(value)
    return date(year, month, day)


def _field_error(ai: GS1ApplicationIdentifier, field: str) -> BadScan:
    """Why `field` is not a value of `ai`, as specific as its format allows."""
    code = ai.ai
    if code == "17":
        # Refused though it starts with a good date ("(17)27063012"): too long, not a bad date.
        if _patterns(ai)[1].match(code + field):
            return BadScan(_("The field (%(ai)s) must be %(n)s digits.") % {"ai": code, "n": 6})
        return _bad_expiry(field[:6])
    fixed = _FIXED_DIGITS.fullmatch(ai.format)
    if fixed and not ai.separator_required:
        return BadScan(_("The field (%(ai)s) must be %(n)s digits.") % {"ai": code, "n": fixed.group(1)})
    variable = _VARIABLE.fullmatch(ai.format)
    if variable and len(field) > int(variable.group(1)):
        return BadScan(_("The field (%(ai)s) is longer than %(n)s characters.") % {"ai": code, "n": variable.group(1)})
    if variable:
        return BadScan(_("The field (%(ai)s) is empty or has characters GS1 does not allow.") % {"ai": code})
    return BadScan(_("The field (%(ai)s) does not have the form GS1 defines for it.") % {"ai": code})


def _unknown_ai(rest: str) -> BadScan:
    shown = rest if len(rest) <= 8 else rest[:8] + "…"
    return BadScan(_("No GS1 application identifier starts at “%(rest)s” in the code.") % {"rest": shown})


@lru_cache(maxsize=1024)
def _ai_at(start: str) -> GS1ApplicationIdentifier | None:
    """The AI that data starting with `start` (4 characters: the longest AI) begins with, None when none does.
    Cached: biip looks through its 541 AIs one by one."""
    try:
        return GS1ApplicationIdentifier.extract(start)
    except ParseError:
        return None


@cache
def _patterns(ai: GS1ApplicationIdentifier) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """biip's pattern of `ai` for a whole element, and for one at the start of longer data."""
    return re.compile(ai.pattern), re.compile(ai.pattern.removesuffix("$"))


def _checked(ai: GS1ApplicationIdentifier, value: str) -> tuple[GS1ApplicationIdentifier, str]:
    """(ai, value) when `value` is in the format GS1 defines for `ai`; BadScan otherwise. The pattern alone: what
    biip's element parser adds (GLN, decimal, money) the sale does not use, and it costs ~50 µs an element."""
    if not _patterns(ai)[0].fullmatch(ai.ai + value):
        raise _field_error(ai, value)
    return ai, value


def _elements_from_string(data: str) -> list[tuple[GS1ApplicationIdentifier, str]]:
    """Delimit an element string: predefined-length AIs by their length, the others at GS or the end."""
    out, rest = [], data
    while rest := rest.lstrip(GS):  # a GS may follow any field, and some scanners send one first (FNC1)
        ai = _ai_at(rest[:4])
        if ai is None:
            raise _unknown_ai(rest)
        field = rest[len(ai.ai) :].split(GS, 1)[0]
        if ai.separator_required:
            out.append(_checked(ai, field))
        else:
            found = _patterns(ai)[1].match(ai.ai + field)
            if not found:
                raise _field_error(ai, field)
            field = found.group(0)[len(ai.ai) :]
            out.append((ai, field))
        rest = rest[len(ai.ai) + len(field) :]
    return out


def _elements_from_brackets(text: str) -> list[tuple[GS1ApplicationIdentifier, str]]:
    """The human-readable form "(01)…(17)…": each AI in brackets, its value up to the next bracket."""
    pos, out = 0, []
    for match in _BRACKETED.finditer(text):
        if match.start() != pos:
            raise _unreadable(text)
        code, value = match.group(1), match.group(2)
        ai = _ai_at(code)
        if ai is None or ai.ai != code:
            raise BadScan(_("Unknown GS1 application identifier (%(ai)s) in the code.") % {"ai": code})
        out.append(_checked(ai, value))
        pos = match.end()
    if pos != len(text) or not out:
        raise _unreadable(text)
    return out


def _gs1(raw: str, data: str, bracketed: bool, today: date, symbology: str = "") -> Scan:
    elements = _elements_from_brackets(data) if bracketed else _elements_from_string(data)
    fields: dict[str, str] = {}
    for ai, value in elements:
        if fields.setdefault(ai.ai, value) != value:
            raise BadScan(_("The GS1 code gives the field (%(ai)s) twice, with different values.") % {"ai": ai.ai})
    if "01" not in fields:
        raise BadScan(_("The GS1 code has no GTIN (01)."))
    return Scan(
        kind="gs1",
        raw=raw,
        gtin=_gtin14(fields["01"]),
        expiry=_expiry(fields["17"], today) if "17" in fields else None,
        batch=fields.get("10"),
        serial=fields.get("21"),
        ais=tuple(fields.items()),
        symbology=symbology,
    )


def _traceability(raw: str, code: str, symbology: str = "") -> Scan:
    return Scan(
        kind="traceability",
        raw=raw,
        traceability_code=code,
        product_key=code[:TRACEABILITY_PRODUCT_DIGITS],
        symbology=symbology,
    )


def _identified(raw: str, symbology: SymbologyIdentifier, data: str, today: date) -> Scan:
    """A scan whose symbology identifier says what it is."""
    name, kind = str(symbology), symbology.gs1_symbology
    if kind in _GS1_MESSAGES:
        return _gs1(raw, data, bracketed=False, today=today, symbology=name)
    if data.isdigit():
        if kind == GS1Symbology.EAN_13 and len(data) == 8:  # ]E0 with 8 digits: UPC-E (EAN-8 is ]E4)
            try:
                return Scan(kind="gtin", raw=raw, gtin=Upc.parse(data).as_gtin_14(), symbology=name)
            except ParseError:
                raise _bad_check_digit(data) from None
        if (kind in _GTIN_CARRIERS or kind is None) and len(data) in _GTIN_LENGTHS:
            return Scan(kind="gtin", raw=raw, gtin=_gtin14(data), symbology=name)
        if kind is None and len(data) == TRACEABILITY_LENGTH:  # a plain symbology: not a GS1 element string
            return _traceability(raw, data, name)
    raise _unreadable(raw)


def parse_scan(raw: str, *, today: date | None = None) -> Scan:
    """Parse what a scanner (or a person) typed. `today` anchors the GS1 expiry century rule (default: today)."""
    today = today or date.today()
    symbology, text = _split(raw)
    if not text.strip(GS):
        raise BadScan(_("Nothing was scanned."))
    if not text.isascii():  # GS1 data is ASCII; full-width digits are a typing slip, not a code
        raise _unreadable(raw)
    if symbology is not None:
        return _identified(raw, symbology, text, today)
    if text.startswith("("):  # spaces are no GS1 character: a person may type them between the fields
        return _gs1(raw, "".join(text.split()), bracketed=True, today=today)
    if text.isdigit():
        if len(text) in _GTIN_LENGTHS:
            return Scan(kind="gtin", raw=raw, gtin=_gtin14(text))
        if len(text) == TRACEABILITY_LENGTH:
            trace = _traceability(raw, text)
            if not text.startswith("01"):
                return trace
            try:
                return replace(_gs1(raw, text, bracketed=False, today=today), traceability_alternative=trace)
            except BadScan:
                return trace
    if GS in text or (text.startswith("01") and len(text) >= 16):
        return _gs1(raw, text.strip(GS), bracketed=False, today=today)
    raise _unreadable(raw)
