"""The resident ID number check (python-stdnum's ISO 7064 MOD 11-2 and birth date, the project's plausibility)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.components.core import clock
from app.components.members import numbers
from app.components.members.numbers import id_check_digit
from app.i18n import use_language

# ISO 7064 MOD 11-2 as GB 11643-1999 prints it: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 = X.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _gb11643(body: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with use_language("en"):
        yield


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_is_the_one_gb_11643_defines(body: str) -> None:
    assert id_check_digit(body) == _gb11643(body)


def _years_ago(years: int) -> date:
    """A birth date `years` before today (so no test depends on the year it runs in)."""
    today = clock.store_today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


def _number(birth: date, region: str = "310101", check: str | None = None) -> str:
    """A resident ID number born on `birth`; the first sequence number whose check character is `check`."""
    for seq in range(1000):
        body = f"{region}{birth:%Y%m%d}{seq:03d}"
        if check is None or id_check_digit(body) == check:
            return body + id_check_digit(body)
    raise AssertionError(check)


def test_every_check_character_including_x_is_reached_and_accepted() -> None:
    birth = _years_ago(40)
    for check in "0123456789X":
        number = _number(birth, check=check)
        assert numbers.parse_id_number(number) == (number, birth, None)


@pytest.mark.parametrize("body", ["1101051949123100", "110105194912310021", "11010519491231002ｘ", "", "abc"])
def test_id_check_digit_takes_only_17_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError):
        id_check_digit(body)


def test_the_published_example_and_a_lower_case_x() -> None:
    assert id_check_digit("11010519491231002") == "X"  # GB 11643-1999's example
    number = _number(_years_ago(30), region="110105", check="X")
    spaced = f" {number[:6]} {number[6:14]} {number[14:17]}x "
    assert numbers.parse_id_number(spaced) == (number, _years_ago(30), None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("110105194912310021", "The resident ID number's check digit is wrong: check each digit."),  # X is right
        ("11010519491231002Y", "Enter the 18-digit resident ID number (the last character may be X)."),
        # Full-width digits, as a Chinese input method types them: refused, not stored as another number.
        ("１１０１０５１９４９１２３１００２X", "Enter the 18-digit resident ID number (the last character may be X)."),
    ],
)
def test_wrong_numbers_say_what_is_wrong(raw: str, message: str) -> None:
    assert numbers.parse_id_number(raw) == (None, None, message)


def test_an_impossible_birth_date_is_refused() -> None:
    year = clock.store_today().year - 30
    body = f"310101{year}0230123"  # 30 February
    assert numbers.parse_id_number(body + id_check_digit(body))[2] == (
        "The resident ID number does not contain a valid birth date."
    )


def test_a_region_code_newer_than_the_birth_year_is_accepted() -> None:
    """310115 is Pudong New Area since 1992; people born before then carry it too (stdnum's validate() refuses)."""
    birth = date(1991, 6, 1)  # before 1992 (the point of the test), and within 120 years of today until 2111
    number = _number(birth, region="310115")
    assert numbers.parse_id_number(number) == (number, birth, None)
