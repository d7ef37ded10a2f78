"""The scan parser: EAN/UPC/GTIN check digits, GS1 element strings, China drug traceability codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.components.scanning import BadScan, Scan, gs1_check_digit, has_valid_check_digit, parse_scan, synthetic_gtin13
from app.i18n import use_language

TODAY = date(2025, 1, 15)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are matched in English (the source language); the catalog may translate them."""
    with use_language("en"):
        yield


# The lines of ../shared/reference/gs1_examples.txt, copied (<GS> stands for ASCII 29 there, and is also what some
# scanners type literally). None = the parser must refuse the line.
GS1_EXAMPLES: list[tuple[str, Scan | None]] = [
    ("6901234567892", Scan(kind="gtin", raw="6901234567892", gtin="06901234567892")),
    (
        "]d201069012345678921727063010B2406A<GS>21SN0001234",
        Scan(
            kind="gs1",
            raw="]d201069012345678921727063010B2406A<GS>21SN0001234",
            gtin="06901234567892",
            expiry=date(2027, 6, 30),
            batch="B2406A",
            serial="SN0001234",
            ais=(("01", "06901234567892"), ("17", "270630"), ("10", "B2406A"), ("21", "SN0001234")),
            symbology="]d2",
        ),
    ),
    (
        "]d2010690123456789221SN0009<GS>1727060010B77",
        Scan(
            kind="gs1",
            raw="]d2010690123456789221SN0009<GS>1727060010B77",
            gtin="06901234567892",
            expiry=date(2027, 6, 30),
            batch="B77",
            serial="SN0009",
            ais=(("01", "06901234567892"), ("21", "SN0009"), ("17", "270600"), ("10", "B77")),
            symbology="]d2",
        ),
    ),
    (
        "81234560012345678901",
        Scan(
            kind="traceability",
            raw="81234560012345678901",
            traceability_code="81234560012345678901",
            product_key="8123456",
        ),
    ),
    ("6901234567890", None),
]


@pytest.mark.parametrize(("raw", "expected"), GS1_EXAMPLES, ids=[raw for raw, _ in GS1_EXAMPLES])
def test_reference_examples(raw: str, expected: Scan | None) -> None:
    if expected is None:
        with pytest.raises(BadScan):
            parse_scan(raw, today=TODAY)
    else:
        assert parse_scan(raw, today=TODAY) == expected


def test_real_group_separator_is_the_same_as_the_literal_text() -> None:
    literal = parse_scan("]d201069012345678921727063010B2406A<GS>21SN0001234", today=TODAY)
    control = parse_scan("]d201069012345678921727063010B2406A\x1d21SN0001234", today=TODAY)
    escaped = parse_scan("]d201069012345678921727063010B2406A\\x1d21SN0001234", today=TODAY)
    assert (control.gtin, control.expiry, control.batch, control.serial) == (
        literal.gtin,
        literal.expiry,
        literal.batch,
        literal.serial,
    )
    assert (escaped.batch, escaped.serial) == ("B2406A", "SN0001234")


@pytest.mark.parametrize("prefix", ["]d2", "]C1", "]Q3", ""])
def test_symbology_prefixes_are_optional(prefix: str) -> None:
    scan = parse_scan(f"{prefix}01069012345678921727063010B1", today=TODAY)
    assert (scan.kind, scan.gtin, scan.expiry, scan.batch) == ("gs1", "06901234567892", date(2027, 6, 30), "B1")


def test_bracket_form() -> None:
    scan = parse_scan("(01)06901234567892(17)270630(10)B2406A", today=TODAY)
    assert scan == Scan(
        kind="gs1",
        raw="(01)06901234567892(17)270630(10)B2406A",
        gtin="06901234567892",
        expiry=date(2027, 6, 30),
        batch="B2406A",
        ais=(("01", "06901234567892"), ("17", "270630"), ("10", "B2406A")),
    )


def test_elements_in_another_order() -> None:
    a = parse_scan("]d201069012345678921727063010LOT1\x1d21S1", today=TODAY)
    b = parse_scan("]d221S1\x1d10LOT1\x1d172706300106901234567892", today=TODAY)
    c = parse_scan("(21)S1(17)270630(10)LOT1(01)06901234567892", today=TODAY)
    for scan in (b, c):
        assert (scan.gtin, scan.expiry, scan.batch, scan.serial) == (a.gtin, a.expiry, a.batch, a.serial)


@pytest.mark.parametrize(
    ("yymmdd", "expected"),
    [
        ("270600", date(2027, 6, 30)),
        ("280200", date(2028, 2, 29)),  # leap year
        ("270200", date(2027, 2, 28)),
        ("270400", date(2027, 4, 30)),
        ("261200", date(2026, 12, 31)),
        ("280229", date(2028, 2, 29)),
        ("990101", date(1999, 1, 1)),  # more than 50 years ahead of 2025 → last century
        ("750101", date(2075, 1, 1)),  # exactly +50 → this century
    ],
)
def test_expiry_day_00_and_century(yymmdd: str, expected: date) -> None:
    assert parse_scan(f"(01)06901234567892(17){yymmdd}", today=TODAY).expiry == expected


@pytest.mark.parametrize("yymmdd", ["271301", "270001", "270230", "270631", "27063", "2706AB"])
def test_impossible_expiry_is_refused(yymmdd: str) -> None:
    with pytest.raises(BadScan):
        parse_scan(f"(01)06901234567892(17){yymmdd}", today=TODAY)


def test_batch_and_serial_of_20_characters_pass_21_fail() -> None:
    ok = parse_scan("]d20106901234567892" + "10" + "B" * 20 + "\x1d21" + "S" * 20, today=TODAY)
    assert (ok.batch, ok.serial) == ("B" * 20, "S" * 20)
    with pytest.raises(BadScan, match="longer than 20"):
        parse_scan("]d20106901234567892" + "10" + "B" * 21, today=TODAY)
    with pytest.raises(BadScan, match="longer than 20"):
        parse_scan("(01)06901234567892(21)" + "S" * 21, today=TODAY)


@pytest.mark.parametrize(
    "raw",
    [
        "]d20106901234567892" + "23" + "250101",  # no AI starts with 23
        "]d20106901234567892" + "3299" + "000001",  # 32xx stops at 3295
        "(01)06901234567892(24)X",  # 24 alone is none (240, 241, … are)
    ],
)
def test_unknown_ai_is_refused(raw: str) -> None:
    with pytest.raises(BadScan, match="application identifier"):
        parse_scan(raw, today=TODAY)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "]d2",
        "hello",
        "690123456789",  # 12 digits, wrong UPC-A check digit
        "123456789",  # 9 digits: no such barcode
        "812345600123456789012",  # 21 digits
        "]d20106901234567890",  # GS1 GTIN with a bad check digit
        "]d2010690123456789",  # GTIN cut short
        "]d21727063010B1",  # no GTIN
        "]d2010690123456789210\x1d21S",  # empty batch
        "]d201069012345678921727063017270701",  # (17) twice, two different dates
        "(01)06901234567892junk",
        "０６９０１２３４５６７８９２",  # full-width digits
    ],
)
def test_garbage_is_refused(raw: str) -> None:
    with pytest.raises(BadScan):
        parse_scan(raw, today=TODAY)


def test_traceability_code() -> None:
    scan = parse_scan(" 81234560012345678901\r\n")
    assert scan.kind == "traceability"
    assert scan.traceability_code == "81234560012345678901"
    assert scan.product_key == "8123456"
    assert scan.gtin is None and scan.expiry is None


@pytest.mark.parametrize(
    ("raw", "gtin"),
    [
        ("96385074", "00000096385074"),  # EAN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("6901234567892", "06901234567892"),  # EAN-13
        ("06901234567892", "06901234567892"),  # GTIN-14
        ("10614141000415", "10614141000415"),  # GTIN-14 with an indicator digit
    ],
)
def test_gtin_lengths_normalise_to_gtin14(raw: str, gtin: str) -> None:
    scan = parse_scan(raw)
    assert (scan.kind, scan.gtin, scan.raw) == ("gtin", gtin, raw)


def test_bad_check_digit_message_names_the_code_and_follows_language() -> None:
    with pytest.raises(BadScan) as info:
        parse_scan("6901234567890")
    assert info.value.message == "The check digit of 6901234567890 is wrong: scan again or type the code."
    with use_language("zh_CN"), pytest.raises(BadScan) as info:
        parse_scan("6901234567890")
    assert "6901234567890" in info.value.message
    assert str(info.value) == info.value.message
    assert isinstance(info.value, ValueError)


def test_scan_is_frozen() -> None:
    scan = parse_scan("6901234567892")
    with pytest.raises(AttributeError):
        scan.gtin = "x"  # type: ignore[misc]


def test_gs1_check_digit_known_values() -> None:
    assert gs1_check_digit("690123456789") == "2"
    assert gs1_check_digit("9638507") == "4"
    assert gs1_check_digit("03600029145") == "2"
    assert gs1_check_digit("1061414100041") == "5"


def test_synthetic_gtin13_shape() -> None:
    code = synthetic_gtin13(42)
    assert code == "690000000042" + gs1_check_digit("690000000042")
    assert len(code) == 13 and code.startswith("69")
    assert len({synthetic_gtin13(n) for n in range(500)}) == 500
    with pytest.raises(ValueError):
        synthetic_gtin13(-1)


@given(st.text(alphabet="0123456789", min_size=7, max_size=13))
def test_any_body_with_its_check_digit_parses(body: str) -> None:
    code = body + gs1_check_digit(body)
    if len(code) in (8, 12, 13, 14):
        assert parse_scan(code).gtin == code.zfill(14)
    gtin14 = code.zfill(14)
    scan = parse_scan(f"]d201{gtin14}17300600", today=TODAY)
    assert (scan.gtin, scan.expiry) == (gtin14, date(2030, 6, 30))


@given(st.integers(min_value=0, max_value=10**10 - 1))
def test_synthetic_gtin13_always_parses(serial: int) -> None:
    code = synthetic_gtin13(serial)
    assert code.startswith("69") and len(code) == 13
    assert parse_scan(code) == Scan(kind="gtin", raw=code, gtin="0" + code)


@given(
    st.integers(min_value=0, max_value=10**10 - 1),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_of_an_ean13_is_refused(serial: int, position: int, delta: int) -> None:
    code = synthetic_gtin13(serial)
    changed = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    with pytest.raises(BadScan):
        parse_scan(changed)


def test_check_digits_of_ascii_digits_only() -> None:
    assert gs1_check_digit("690000000001") == "4"
    for bad in ("12a4", "١٢٣", ""):  # a letter; Arabic-Indic digits (str.isdigit says yes); nothing
        with pytest.raises(ValueError):
            gs1_check_digit(bad)
    assert has_valid_check_digit("6900000000014") and has_valid_check_digit("96385074")
    assert not has_valid_check_digit("6900000000015")
    for bad in ("4", "", "69000000a0014", "١٢"):
        assert not has_valid_check_digit(bad)
    assert has_valid_check_digit("00")  # the shortest: one digit and its check digit


def test_synthetic_gtins_cover_ten_digits_of_serial_and_no_more() -> None:
    assert synthetic_gtin13(0) == "6900000000007"
    assert synthetic_gtin13(10**10 - 1) == "6999999999990"[:12] + gs1_check_digit("699999999999")
    for bad in (-1, 10**10):
        with pytest.raises(ValueError):
            synthetic_gtin13(bad)
