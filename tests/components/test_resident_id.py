"""The resident ID number check (python-stdnum's ISO 7064 MOD 11-2 and birth date, the project's plausibility)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.components import members
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
    assert members.id_check_digit(body) == _gb11643(body)


def test_every_check_character_including_x_is_reached_and_accepted() -> None:
    seen = set()
    for n in range(200):
        body = f"310101198001{n % 28 + 1:02d}{n:03d}"
        number = body + members.id_check_digit(body)
        seen.add(number[-1])
        assert members.parse_id_number(number)[2] is None
    assert seen == set("0123456789X")


@pytest.mark.parametrize("body", ["1101051949123100", "110105194912310021", "11010519491231002ｘ", "", "abc"])
def test_id_check_digit_takes_only_17_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError):
        members.id_check_digit(body)


def test_the_published_example_and_its_lower_case_x() -> None:
    assert members.parse_id_number("11010519491231002X") == ("11010519491231002X", date(1949, 12, 31), None)
    assert members.parse_id_number(" 110105 19491231 002x ") == ("11010519491231002X", date(1949, 12, 31), None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("110105194912310021", "The resident ID number's check digit is wrong: check each digit."),
        ("11010519491231002Y", "Enter the 18-digit resident ID number (the last character may be X)."),
        # Full-width digits, as a Chinese input method types them: refused, not stored as another number.
        ("１１０１０５１９４９１２３１００２X", "Enter the 18-digit resident ID number (the last character may be X)."),
    ],
)
def test_wrong_numbers_say_what_is_wrong(raw: str, message: str) -> None:
    assert members.parse_id_number(raw) == (None, None, message)


def test_an_impossible_birth_date_is_refused() -> None:
    body = "31010119990230123"  # 30 February
    assert members.parse_id_number(body + members.id_check_digit(body))[2] == (
        "The resident ID number does not contain a valid birth date."
    )


def test_a_region_code_newer_than_the_birth_year_is_accepted() -> None:
    """310115 is Pudong New Area since 1992; people born before then carry it too (stdnum's validate() refuses)."""
    body = "31011519500101123"
    number = body + members.id_check_digit(body)
    assert members.parse_id_number(number) == (number, date(1950, 1, 1), None)
