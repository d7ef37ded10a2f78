"""Member numbers and identifiers: the Luhn-checked member number, phones and resident ID numbers normalised, masked
and blind-indexed, and the live member a (possibly merged-away) number stands for."""

from __future__ import annotations

import re
from datetime import date

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from app.components.core.clock import age_on, store_today
from app.components.core.crypto import blind_index
from app.components.members.queries import member as queries
from app.i18n import _

MEMBER_NO_PREFIX = "8"
MEMBER_NO_LENGTH = 10


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def member_no_for(serial: int) -> str:
    """The member number for a serial: prefix 8, eight digits, one Luhn check digit."""
    body = f"{MEMBER_NO_PREFIX}{serial:0{MEMBER_NO_LENGTH - 2}d}"
    return body + luhn_digit(body)


def is_member_no(code: str) -> bool:
    """True when `code` has the member-number shape and a correct check digit."""
    return (
        len(code) == MEMBER_NO_LENGTH
        and code.isdigit()
        and code.startswith(MEMBER_NO_PREFIX)
        and luhn_digit(code[:-1]) == code[-1]
    )


def normalize_phone(raw: str) -> str | None:
    """A valid mainland mobile number as 11 digits, or None."""
    cleaned = re.sub(r"[\s\-()]", "", raw or "")
    if not cleaned:
        return None
    try:
        parsed = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return str(parsed.national_number)


def mask_phone(phone: str | None) -> str:
    """138****1234: stored beside the ciphertext so lists never need to decrypt."""
    return f"{phone[:3]}****{phone[-4:]}" if phone else ""


def phone_index(phone: str) -> str:
    """Blind index of a normalised phone number."""
    return blind_index(phone, "phone")


def id_check_digit(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character (0-9 or X) of the first 17 digits of a resident ID number."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("17 digits")
    return ric.calc_check_digit(body + "0")  # stdnum takes the whole number and ignores its last character


def normalize_id_number(raw: str | None) -> str:
    """Spaces removed, a lower-case x made upper-case (no validation)."""
    return re.sub(r"\s", "", raw or "").upper()


def parse_id_number(raw: str) -> tuple[str | None, date | None, str | None]:
    """(normalised number, birth date inside it, error message) for an 18-digit resident ID number."""
    number = normalize_id_number(raw)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):  # ASCII only: \d takes full-width digits
        return None, None, _("Enter the 18-digit resident ID number (the last character may be X).")
    # stdnum's checksum and birth date, not its validate(): that also checks the region code against the county's
    # years, and refuses real numbers (310115, Pudong since 1992, for anyone born before then).
    if ric.calc_check_digit(number) != number[17]:
        return None, None, _("The resident ID number's check digit is wrong: check each digit.")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        return None, None, _("The resident ID number does not contain a valid birth date.")
    today = store_today()
    if birth > today or (age_on(birth, today) or 0) > 120:
        return None, None, _("The birth date inside the resident ID number is not possible.")
    return number, birth, None


def mask_id_number(number: str | None) -> str:
    """3101**********1234: the region and the last four stay readable."""
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}" if number else ""


def id_number_index(number: str) -> str:
    """Blind index of a normalised resident ID number."""
    return blind_index(number, "id_number")


async def next_serials(name: str, count: int = 1) -> int:
    """Reserve `count` numbers from a named sequence; return the first. Call inside a transaction."""
    return await queries.reserve_serials(name, count) - count + 1


async def resolve_member_id(member_no: str) -> int | None:
    """The live member a number stands for: itself, or the survivor it was merged into (following chains)."""
    row = await queries.merge_link((member_no or "").strip())
    if row is None:
        return None
    seen = set()
    while row["merged_into"] is not None and row["id"] not in seen:
        seen.add(row["id"])
        row = await queries.merge_link_by_id(row["merged_into"])
        if row is None:
            return None
    return row["id"]


async def resolve_member_no(member_no: str) -> str | None:
    """The live member number for a (possibly merged-away) number, or None when unknown."""
    mid = await resolve_member_id(member_no)
    if mid is None:
        return None
    return await queries.member_no_of(mid)
