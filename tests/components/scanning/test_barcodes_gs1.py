"""The classes of valid codes real packs and scanners produce (issue 12): symbology identifiers, every GS1 AI
delimited by its length, any AI order, (01) alone, the 20-digit rule, the expiry century rule at both edges, and
the wording of every scan error. Every test gives the parser its "today": none depends on the year it runs in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from biip.gs1_application_identifiers import (  # biip has no public list of its table
    _GS1_APPLICATION_IDENTIFIERS,
    GS1ApplicationIdentifier,
)
from hypothesis import given
from hypothesis import strategies as st

from app.components.scanning import GS, BadScan, Scan, parse_scan, scanned_text
from app.i18n import use_language

TODAY = date(2031, 7, 9)  # any date: the parser is told it
GTIN = "06901234567892"
EAN13 = GTIN[1:]
TRACE = "81234560012345678901"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with use_language("en"):
        yield


def scan(raw: str, today: date = TODAY) -> Scan:
    return parse_scan(raw, today=today)


# ---------------------------------------------------------------- symbology identifiers


@pytest.mark.parametrize(
    ("raw", "gtin"),
    [
        ("]E0" + EAN13, GTIN),  # EAN-13
        ("]E0036000291452", "00036000291452"),  # UPC-A
        ("]E001234565", "00012345000065"),  # UPC-E (8 digits under ]E0), expanded to its UPC-A
        ("]E496385074", "00000096385074"),  # EAN-8
        ("]I110614141000415", "10614141000415"),  # ITF-14
        ("]C0" + EAN13, GTIN),  # a GTIN printed as plain Code 128
    ],
)
def test_gtin_symbologies(raw: str, gtin: str) -> None:
    found = scan(raw)
    assert (found.kind, found.gtin, found.symbology) == ("gtin", gtin, raw[:3])


@pytest.mark.parametrize("prefix", ["]C1", "]e0", "]d2", "]Q3"])
def test_gs1_symbologies_carry_element_strings(prefix: str) -> None:
    found = scan(f"{prefix}01{GTIN}17310600{GS}10LOT7")
    assert (found.kind, found.gtin, found.expiry, found.batch, found.symbology) == (
        "gs1",
        GTIN,
        date(2031, 6, 30),
        "LOT7",
        prefix,
    )


def test_plain_code_128_before_a_traceability_code() -> None:
    found = scan("]C0" + TRACE)
    assert (found.kind, found.traceability_code, found.product_key, found.symbology) == (
        "traceability",
        TRACE,
        "8123456",
        "]C0",
    )
    # Code 128 without FNC1 is no GS1 symbol: 20 digits that would also read as (01)… are a traceability code.
    assert scan("]C0" + "01" + GTIN + "2012").kind == "traceability"


@pytest.mark.parametrize(
    "raw",
    [
        "]E0" + EAN13[:-1] + "0",  # wrong check digit
        "]E001234560",  # UPC-E, wrong check digit
        "]E0ABC",
        "]I1" + "01" + GTIN,  # an ITF-14 carries a GTIN, not an element string
        "]E1" + "12",  # an add-on alone names no product
        "]C0" + "8123456001234567890A",
        "]Q1https://example.com/x",
        "]E0" + TRACE,  # EAN/UPC and ITF-14 carry GTINs, not traceability codes
        "]I1" + TRACE,
    ],
)
def test_what_a_symbology_cannot_carry_is_refused(raw: str) -> None:
    with pytest.raises(BadScan):
        scan(raw)


def test_scanned_text_drops_the_symbology_identifier() -> None:
    assert scanned_text(" ]C0YS00007\r\n") == "YS00007"
    assert scanned_text("OLD-778") == "OLD-778"
    assert scanned_text("]]x") == "]]x"  # "]" and no symbology: kept as typed


# ---------------------------------------------------------------- every application identifier


def _longest_value(pattern: str, ai: str) -> str:
    """The longest all-"0" (or all-"A") value the AI's pattern takes: the defined length, or the maximum."""
    if ai in _SAMPLES:
        return _SAMPLES[ai]
    for char in "0A":
        found = [char * n for n in range(1, 100) if re.fullmatch(pattern, ai + char * n)]
        if found:
            return found[-1]
    raise AssertionError(f"no sample value for ({ai})")


# (17) is checked as a date; (01) as a GTIN (the same one again: a repeat with the same value is fine); 7258 mixes
# a fixed "/" into its format.
_SAMPLES = {"01": GTIN, "17": "310600", "7258": "1/2"}
AIS = sorted(_GS1_APPLICATION_IDENTIFIERS.values(), key=lambda ai: ai.ai)


@pytest.mark.parametrize("ai", AIS, ids=[ai.ai for ai in AIS])
def test_every_standard_ai_is_delimited_by_its_defined_length(ai: GS1ApplicationIdentifier) -> None:
    value = _longest_value(ai.pattern, ai.ai)
    after = GS if ai.separator_required else ""  # predefined-length fields need none: their length ends them
    last, last_value = ("21", "SER9") if ai.ai == "10" else ("10", "LOT9")
    found = scan(f"]d201{GTIN}{ai.ai}{value}{after}{last}{last_value}")
    assert found.gtin == GTIN
    assert found.ai(ai.ai) == value
    assert found.ai(last) == last_value
    assert found.ais[0] == ("01", GTIN) and found.ais[-1] == (last, last_value)


@pytest.mark.parametrize(
    ("element", "ai", "value"),
    [
        # Lengths from the GS1 General Specifications' AI table, written here independently of biip's.
        ("11" + "310101", "11", "310101"),  # production date, 6
        ("13" + "310101", "13", "310101"),  # packaging date, 6
        ("15" + "321231", "15", "321231"),  # best before, 6
        ("16" + "321231", "16", "321231"),  # sell by, 6
        ("20" + "07", "20", "07"),  # variant, 2
        ("00" + "006141411234567890", "00", "006141411234567890"),  # SSCC, 18
        ("30" + "12345678" + GS, "30", "12345678"),  # variable count, up to 8
        ("37" + "24" + GS, "37", "24"),  # count of trade items, up to 8
        ("240" + "ADD-ID" + GS, "240", "ADD-ID"),  # additional product id, up to 30
        ("710" + "PZN12345" + GS, "710", "PZN12345"),  # NHRN Germany PZN, up to 20
        ("711" + "3400930000001" + GS, "711", "3400930000001"),  # NHRN France CIP
        ("712" + "CN123456" + GS, "712", "CN123456"),  # NHRN Spain
        ("713" + "DRN0001" + GS, "713", "DRN0001"),  # NHRN Brazil
        ("714" + "AIM1234" + GS, "714", "AIM1234"),  # NHRN Portugal
        ("715" + "0002-1234-56" + GS, "715", "0002-1234-56"),  # NHRN USA NDC
        ("7003" + "3112312359" + GS, "7003", "3112312359"),  # expiry date and time, 10
        ("91" + "X" * 90 + GS, "91", "X" * 90),  # company internal, up to 90
        ("99" + "internal/1" + GS, "99", "internal/1"),
    ],
)
def test_standard_ais_beyond_the_four_the_sale_uses_are_kept_with_the_scan(element: str, ai: str, value: str) -> None:
    found = scan(f"]d201{GTIN}{element}21SER1")
    assert (found.gtin, found.serial, found.ai(ai)) == (GTIN, "SER1", value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"]d201{GTIN}30123456789", "The field (30) is longer than 8 characters."),  # a count is at most 8 digits
        (f"]d201{GTIN}91{'X' * 91}", "The field (91) is longer than 90 characters."),
        (f"]d201{GTIN}710{'1' * 21}", "The field (710) is longer than 20 characters."),
        (f"]d201{GTIN}1131010", "The field (11) must be 6 digits."),
        (f"]d201{GTIN}20X1", "The field (20) must be 2 digits."),
        (f"]d201{GTIN}30ABC", "The field (30) is empty or has characters GS1 does not allow."),
        (f"]d201{GTIN}7003311231{GS}10L", "The field (7003) does not have the form GS1 defines for it."),
    ],
)
def test_a_field_that_cannot_be_delimited_fails_the_scan_naming_its_ai(raw: str, message: str) -> None:
    with pytest.raises(BadScan) as info:
        scan(raw)
    assert info.value.message == message


def test_an_odd_date_in_a_field_the_sale_does_not_use_does_not_stop_the_scan() -> None:
    found = scan(f"]d201{GTIN}11310231" + "17310600")  # 31 February as production date
    assert (found.ai("11"), found.expiry) == ("310231", date(2031, 6, 30))


def test_the_same_ai_twice_with_the_same_value_is_kept_once() -> None:
    found = scan(f"]d201{GTIN}17310600{GS}01{GTIN}")
    assert found.ais == (("01", GTIN), ("17", "310600"))


# ---------------------------------------------------------------- any order, (01) alone


ELEMENTS = {
    "01": GTIN,
    "17": "331130",
    "10": "B-77/2",
    "21": "SN0009",
    "11": "310101",
    "30": "2",
    "91": "internal",
    "713": "DRN1",
}


@given(st.permutations(list(ELEMENTS)))
def test_ais_in_any_order_read_the_same(order: list[str]) -> None:
    data = "".join(ai + ELEMENTS[ai] + GS for ai in order).rstrip(GS)
    found = scan("]d2" + data)
    assert (found.gtin, found.expiry, found.batch, found.serial) == (GTIN, date(2033, 11, 30), "B-77/2", "SN0009")
    assert dict(found.ais) == ELEMENTS
    assert [ai for ai, _ in found.ais] == order
    hri = scan("".join(f"({ai}){ELEMENTS[ai]}" for ai in order))
    assert hri.ais == found.ais


@pytest.mark.parametrize("raw", ["01" + GTIN, "]e001" + GTIN, "]C101" + GTIN, "(01)" + GTIN, "]d2" + GS + "01" + GTIN])
def test_01_followed_by_a_gtin_alone(raw: str) -> None:
    found = scan(raw)
    assert (found.kind, found.gtin, found.ais) == ("gs1", GTIN, (("01", GTIN),))


def test_unprefixed_text_starting_with_another_ai_is_not_taken_for_gs1() -> None:
    """Without GS or a symbology identifier only "01…" is an element string: "1012345" is a SKU or an alias."""
    with pytest.raises(BadScan, match="is not a barcode"):
        scan("1012345")
    assert scan(f"17310600{GS}01{GTIN}").gtin == GTIN  # with a GS it is one


# ---------------------------------------------------------------- the 20-digit rule


def test_20_digits_that_are_a_valid_01_element_string_read_as_gs1_with_the_traceability_reading_beside() -> None:
    code = "01" + GTIN + "2012"  # (01) GTIN (20) variant 12
    found = scan(code)
    assert (found.kind, found.gtin, found.ai("20")) == ("gs1", GTIN, "12")
    other = found.traceability_alternative
    assert other is not None
    assert (other.kind, other.traceability_code, other.product_key) == ("traceability", code, "0106901")


@pytest.mark.parametrize(
    "code",
    [
        TRACE,  # does not start with 01
        "01" + GTIN[:-1] + "0" + "2012",  # (01) with a wrong GTIN check digit: no GS1 reading
        "01" + GTIN + "2312",  # (23) is no AI: cannot be delimited
    ],
)
def test_20_digits_without_a_gs1_reading_are_a_traceability_code(code: str) -> None:
    found = scan(code)
    assert (found.kind, found.traceability_code, found.product_key) == ("traceability", code, code[:7])
    assert found.gtin is None and found.traceability_alternative is None


@pytest.mark.parametrize(
    "raw",
    [
        "8123456001234567890A",  # 20 characters, one a letter
        "ABCDEFGHIJKLMNOPQRST",
        "８１２３４５６００１２３４５６７８９０１",  # 20 full-width digits
        "81234560 12345678901",  # a space inside
        "8123456001234567890",  # 19 digits
        "812345600123456789012",  # 21 digits
    ],
)
def test_20_characters_that_are_not_20_ascii_digits_are_no_traceability_code(raw: str) -> None:
    with pytest.raises(BadScan) as info:
        scan(raw)
    assert info.value.message == f"{raw} is not a barcode, GS1 code or drug traceability code."


# ---------------------------------------------------------------- (17): the century rule (day 00: test_barcodes.py)


@pytest.mark.parametrize(
    ("today", "yymmdd", "expected"),
    [
        # GS1 General Specifications 7.12: the year is taken within -49 … +50 years of the current year.
        (date(2025, 1, 15), "750101", date(2075, 1, 1)),  # +50: still ahead
        (date(2025, 1, 15), "760101", date(1976, 1, 1)),  # +51 would be ahead: -49 instead
        (date(2025, 1, 15), "760100", date(1976, 1, 31)),
        (date(2060, 6, 1), "100101", date(2110, 1, 1)),  # +50 across the century
        (date(2060, 6, 1), "110101", date(2011, 1, 1)),  # -49
        (date(2099, 12, 31), "490101", date(2149, 1, 1)),  # +50
        (date(2099, 12, 31), "500101", date(2050, 1, 1)),  # -49
        (date(2000, 1, 1), "500101", date(2050, 1, 1)),  # +50
        (date(2000, 1, 1), "510101", date(1951, 1, 1)),  # -49
        (date(2001, 1, 1), "000229", date(2000, 2, 29)),  # 2000 is a leap year
    ],
)
def test_expiry_century_rule_at_both_edges(today: date, yymmdd: str, expected: date) -> None:
    assert scan(f"(01){GTIN}(17){yymmdd}", today=today).expiry == expected


def test_the_century_rule_reads_a_year_2100_february_29_as_impossible() -> None:
    with pytest.raises(BadScan, match="not a valid date"):
        scan(f"(01){GTIN}(17)000229", today=date(2060, 1, 1))  # 2100 is no leap year


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2250, 12, 31)), st.integers(0, 99), st.integers(1, 12))
def test_the_expiry_year_is_always_within_minus_49_and_plus_50_years_of_today(today: date, yy: int, month: int) -> None:
    expiry = scan(f"(01){GTIN}(17){yy:02d}{month:02d}00", today=today).expiry
    assert expiry is not None
    assert expiry.year % 100 == yy and expiry.month == month
    assert today.year - 49 <= expiry.year <= today.year + 50


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31)), st.integers(-49 * 365, 49 * 365))
def test_an_expiry_within_49_years_of_today_reads_back_as_itself(today: date, days: int) -> None:
    expiry = today + timedelta(days=days)
    assert scan(f"]d201{GTIN}17{expiry:%y%m%d}", today=today).expiry == expiry


@pytest.mark.parametrize(("today", "yymmdd"), [(date(9999, 6, 1), "000101"), (date(1, 6, 1), "990101")])
def test_a_century_beyond_what_a_date_can_hold_is_a_bad_expiry_not_a_crash(today: date, yymmdd: str) -> None:
    with pytest.raises(BadScan, match="not a valid date"):
        scan(f"(01){GTIN}(17){yymmdd}", today=today)


# What scanners and people type, GS and two of its spellings, and a NUL.
_SCANNER_CHARS = st.sampled_from([*"0123456789]()dCEeQIx A１", GS, "<GS>", "\\x1d", "\x00"])


@given(st.one_of(st.text(), st.lists(_SCANNER_CHARS, max_size=40).map("".join)), st.dates())
def test_anything_typed_is_a_scan_or_a_bad_scan_never_another_error(raw: str, today: date) -> None:
    try:
        found = scan(raw, today=today)
    except BadScan as exc:
        assert exc.message
    else:
        assert found.kind in ("gtin", "gs1", "traceability")


# ---------------------------------------------------------------- the wording of scan errors


ERRORS = [
    ("", "Nothing was scanned."),
    ("]d2", "Nothing was scanned."),
    ("hello", "hello is not a barcode, GS1 code or drug traceability code."),
    ("6901234567890", "The check digit of 6901234567890 is wrong: scan again or type the code."),
    ("]E001234560", "The check digit of 01234560 is wrong: scan again or type the code."),
    (f"]d201{GTIN[:-1]}0", "The check digit of 06901234567890 is wrong: scan again or type the code."),
    (f"]d201{GTIN}17311301", "The expiry date 311301 is not a valid date."),
    (f"]d201{GTIN}17310230", "The expiry date 310230 is not a valid date."),
    (f"]d201{GTIN}173106", "The expiry date 3106 is not a valid date."),
    ("]d2010690123456789", "The field (01) must be 14 digits."),
    (f"]d201{GTIN}10{'B' * 21}", "The field (10) is longer than 20 characters."),
    (f"]d201{GTIN}10{GS}21S", "The field (10) is empty or has characters GS1 does not allow."),
    (f"]d201{GTIN}21SN 1", "The field (21) is empty or has characters GS1 does not allow."),
    # 20 characters (the maximum), one a space: the characters are what is wrong, not the length.
    (f"]d201{GTIN}21{'S' * 10} {'S' * 9}", "The field (21) is empty or has characters GS1 does not allow."),
    (f"(01){GTIN}(011){GTIN}", "Unknown GS1 application identifier (011) in the code."),
    (f"(01){GTIN}(", f"(01){GTIN}( is not a barcode, GS1 code or drug traceability code."),
    (f"(01){GTIN})(10)L", f"(01){GTIN})(10)L is not a barcode, GS1 code or drug traceability code."),
    (f"]d201{GTIN}2399", "No GS1 application identifier starts at “2399” in the code."),
    (f"]d201{GTIN}23456789012", "No GS1 application identifier starts at “23456789…” in the code."),
    (f"(01){GTIN}(23)1", "Unknown GS1 application identifier (23) in the code."),
    (f"(01){GTIN}junk", "The field (01) must be 14 digits."),
    (f"]d201{GTIN}17310630{GS}17310701", "The GS1 code gives the field (17) twice, with different values."),
    ("]d21731063010B1", "The GS1 code has no GTIN (01)."),
]


@pytest.mark.parametrize(("raw", "message"), ERRORS, ids=[raw or "empty" for raw, _ in ERRORS])
def test_scan_error_wording(raw: str, message: str) -> None:
    with pytest.raises(BadScan) as info:
        scan(raw)
    assert info.value.message == message


@pytest.mark.parametrize(("raw", "message"), ERRORS, ids=[raw or "empty" for raw, _ in ERRORS])
def test_scan_errors_are_translated(raw: str, message: str) -> None:
    with use_language("zh_CN"), pytest.raises(BadScan) as info:
        scan(raw)
    chinese = info.value.message
    assert chinese != message
    assert re.search(r"[\u4e00-\u9fff]", chinese)
    for part in re.findall(r"\(\d+\)|\d{4,}|hello", message):  # the AI or the code it names is in it too
        assert part in chinese


def test_chinese_wording_of_the_errors_a_pharmacist_sees_most() -> None:
    with use_language("zh_CN"):
        with pytest.raises(BadScan) as info:
            scan("6901234567890")
        assert info.value.message == "6901234567890 的校验位错误：请重新扫描或手动输入。"
        with pytest.raises(BadScan) as info:
            scan(f"]d201{GTIN}17311301")
        assert info.value.message == "有效期 311301 不是有效日期。"


# ---------------------------------------------------------------- edges mutation testing found untested


def _message(raw: str, today: date = TODAY) -> str:
    with pytest.raises(BadScan) as info:
        scan(raw, today)
    return info.value.message


def test_an_ean8_under_the_upc_e_identifier_is_not_taken_for_an_ean8() -> None:
    # ]E0 with 8 digits is UPC-E (EAN-8 comes as ]E4): a code that is no UPC-E is refused, never read as an EAN-8.
    assert _message("]E096385074") == "The check digit of 96385074 is wrong: scan again or type the code."
    assert scan("]E496385074").gtin == "00000096385074"


def test_a_bracket_and_one_letter_is_no_symbology_identifier() -> None:
    assert _message("]E") == "]E is not a barcode, GS1 code or drug traceability code."
    assert _message("]E0") == "Nothing was scanned."  # an identifier, and nothing after it


def test_a_15_character_string_starting_with_01_is_no_gs1_code() -> None:
    assert _message("010690123456789") == "010690123456789 is not a barcode, GS1 code or drug traceability code."


@pytest.mark.parametrize(
    ("tail", "shown"), [("23ABCDEF", "23ABCDEF"), ("23ABCDEFG", "23ABCDEF…"), ("23ABCDEFGHIJ", "23ABCDEF…")]
)
def test_an_unknown_ai_is_shown_with_up_to_eight_characters(tail: str, shown: str) -> None:
    assert _message(f"]d201{GTIN}{tail}") == f"No GS1 application identifier starts at “{shown}” in the code."


def test_a_bad_expiry_inside_an_element_string_names_the_six_digits() -> None:
    assert _message(f"]d201{GTIN}1727133210B1") == "The expiry date 271332 is not a valid date."  # no GS after it


def test_a_bracketed_expiry_with_digits_after_a_good_date_says_six_digits() -> None:
    # It said "The expiry date 270630 is not a valid date." although 270630 is one.
    assert _message(f"(01){GTIN}(17)27063012") == "The field (17) must be 6 digits."
    assert _message(f"(01){GTIN}(17)27133212") == "The expiry date 271332 is not a valid date."


def test_an_expiry_beyond_the_calendar_is_a_bad_date_not_a_crash() -> None:
    assert scan(f"(01){GTIN}(17)991231", today=date(9990, 1, 1)).expiry == date(9999, 12, 31)
    assert _message(f"(01){GTIN}(17)000101", today=date(9990, 1, 1)) == "The expiry date 000101 is not a valid date."
    assert scan(f"(01){GTIN}(17)010101", today=date(1, 6, 1)).expiry == date(1, 1, 1)
    assert scan(f"(01){GTIN}(17)271200", today=TODAY).expiry == date(2027, 12, 31)
