"""Member numbers and phones: the Luhn check digit, normalisation, encryption at rest and the blind index."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from app.components import members
from app.components.members import numbers
from app.db import fetch
from tests.conftest import actor


def test_member_numbers_carry_a_luhn_check_digit() -> None:
    number = members.member_no_for(1)
    assert number == "8000000011"
    assert numbers.is_member_no(number)
    assert not numbers.is_member_no("8000000012")  # one digit off
    assert not numbers.is_member_no("13812341234")  # a phone number is not a card


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "13812341234"),
        ("+86 138 1234 1234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("12345678901", None),
        ("1381234123", None),
        ("", None),
        ("02161234567", None),  # a Shanghai landline is not a mobile
    ],
)
def test_phone_normalisation(raw: str, expected: str | None) -> None:
    assert members.normalize_phone(raw) == expected


async def test_phone_is_encrypted_at_rest_and_found_by_blind_index(tmp_data_dir) -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="周杰", phone="13987654321"), pharmacist)
    assert view.phone_masked == "139****4321"
    rows = await fetch("SELECT * FROM member WHERE member_no = {}", view.member_no)
    stored = " ".join(str(v) for v in rows[0].values())
    assert "13987654321" not in stored
    found = await members.find_by_code("139 8765 4321", pharmacist)
    assert [m.member_no for m in found] == [view.member_no]
    assert await members.reveal_phone(view.member_no, pharmacist) == "13987654321"


async def test_sqlite_file_does_not_contain_the_phone(tmp_data_dir) -> None:
    from app.db import is_sqlite
    from app.settings import get_settings

    if not is_sqlite():
        pytest.skip("inspects the SQLite file")
    await members.register(members.NewMember(name="吴敏", phone="13711112222"), await actor())
    path = get_settings().sqlite_path
    # Read from another process: closing the file here would drop the POSIX locks our own connections hold.
    script = (
        "import sys, pathlib; p = pathlib.Path(sys.argv[1]);"
        " sys.exit(b'13711112222' in b''.join(f.read_bytes() for f in p.parent.glob(p.name + '*')))"
    )
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, str(path)])
    assert result.returncode == 0, "the phone number is in the database file in clear"
