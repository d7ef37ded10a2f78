"""Key rotation: identifiers re-encrypted, blind indexes recomputed in chunks, resumable, key files swapped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from app.components import members
from app.components.core.crypto import decrypt
from app.components.keys import rotation as keys
from app.components.members import duplicates
from app.components.members.numbers import id_check_digit
from app.db import fetch, is_sqlite
from app.settings import get_settings
from tests.conftest import actor

PHONES = ["13811110001", "13811110002", "13811110003", "13811110004", "13811110005"]


def _id_number(seq: int) -> str:
    body = f"31010119800101{seq:03d}"
    return body + id_check_digit(body)


async def _people() -> list[members.MemberView]:
    pharmacist = await actor()
    people = []
    for i, phone in enumerate(PHONES):
        people.append(
            await members.register(
                members.NewMember(
                    name=f"轮换{i}", phone=phone, id_number=_id_number(i + 1), address=f"上海市静安区{i}号"
                ),
                pharmacist,
            )
        )
    await members.register(members.NewMember(name="无号码"), pharmacist)  # nothing to re-encrypt
    return people


async def _secrets() -> list[dict]:
    return await fetch(
        "SELECT id, phone_enc, phone_index, id_number_enc, id_number_index, address_enc FROM member ORDER BY id"
    )


def _key_files() -> dict[str, str | None]:
    data_dir = get_settings().data_dir
    names = [*keys.KEY_FILES, *(f"{n}.old" for n in keys.KEY_FILES), *(f"{n}.new" for n in keys.KEY_FILES)]
    return {n: (data_dir / n).read_text().strip() if (data_dir / n).exists() else None for n in names}


async def _assert_clear_text_absent() -> None:
    rows = await fetch("SELECT * FROM member")
    dump = repr(rows)
    for i, phone in enumerate(PHONES):
        assert phone not in dump and _id_number(i + 1) not in dump and "静安区" not in dump
    if is_sqlite():
        # Read the files from another process: opening and closing the database file in this one would drop the
        # POSIX locks its SQLite connections hold (sqlite.org/howtocorrupt.html 2.2).
        path = get_settings().sqlite_path
        script = (
            "import sys, pathlib; p = pathlib.Path(sys.argv[1]);"
            " blob = b''.join(f.read_bytes() for f in p.parent.glob(p.name + '*'));"
            " sys.exit(any(s.encode() in blob for s in sys.argv[2:]))"
        )
        needles = [*PHONES, *(_id_number(i + 1) for i in range(len(PHONES))), "静安区"]
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, str(path), *needles])
        assert result.returncode == 0, "clear text found in the database file"


async def _assert_everything_readable() -> None:
    pharmacist = await actor()
    for i, phone in enumerate(PHONES):
        found = await members.find_by_code(phone, pharmacist)
        assert [m.name for m in found] == [f"轮换{i}"]
    rows = await fetch("SELECT name, phone_enc, id_number_enc, address_enc FROM member WHERE phone_enc IS NOT NULL")
    for row in rows:
        i = int(row["name"][-1])
        assert decrypt(row["phone_enc"], "phone") == PHONES[i]
        assert decrypt(row["id_number_enc"], "id_number") == _id_number(i + 1)
        assert decrypt(row["address_enc"], "address") == f"上海市静安区{i}号"
    found = await duplicates.likely_duplicates(None, _id_number(3), "", None)
    assert [m.name for m in found] == ["轮换2"]


async def test_rotation_re_encrypts_recomputes_indexes_and_swaps_the_key_files() -> None:
    await _people()
    before, files_before = await _secrets(), _key_files()
    report = await keys.rotate_keys(chunk_size=2)
    assert report.finished and not report.resumed
    assert report.rows == 5 and report.chunks == 3
    after, files_after = await _secrets(), _key_files()
    for old, new in zip(before, after, strict=True):
        for column in ("phone_enc", "phone_index", "id_number_enc", "id_number_index", "address_enc"):
            if old[column] is None:
                assert new[column] is None
            else:
                assert new[column] != old[column], column
    assert files_after["data_key.old"] == files_before["data_key"]
    assert files_after["index_key.old"] == files_before["index_key"]
    assert files_after["data_key"] not in (None, files_before["data_key"])
    assert files_after["data_key.new"] is None and files_after["index_key.new"] is None
    assert not (get_settings().data_dir / keys.PROGRESS_FILE).exists()
    assert get_settings().data_key == files_after["data_key"]  # the settings cache was cleared
    await _assert_everything_readable()
    await _assert_clear_text_absent()


async def test_an_interrupted_rotation_resumes_where_it_stopped() -> None:
    await _people()
    files_before = _key_files()
    partial = await keys.rotate_keys(chunk_size=2, max_chunks=1)
    assert not partial.finished and partial.rows == 2
    # Nothing swapped yet: the app still runs on the old keys, the new ones wait beside them.
    assert _key_files()["data_key"] == files_before["data_key"] and _key_files()["data_key.new"]
    # A crash between a chunk's commit and the progress file: the chunk is met again and recognised.
    (get_settings().data_dir / keys.PROGRESS_FILE).unlink()
    done = await keys.rotate_keys(chunk_size=2)
    assert done.finished and done.resumed and done.rows == 5
    assert _key_files()["data_key.old"] == files_before["data_key"]
    await _assert_everything_readable()


async def test_keys_from_the_environment_are_not_rotated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAOSHI_DATA_KEY", get_settings().data_key)
    with pytest.raises(keys.KeyRotationError, match="YAOSHI_DATA_KEY"):
        await keys.rotate_keys()


async def test_the_rotate_keys_command() -> None:
    await _people()
    before = await _secrets()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "rotate-keys", "--chunk-size", "2"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "5 rows re-encrypted in 3 chunks" in result.stdout
    get_settings.cache_clear()  # the command swapped the key files under this process
    after = await _secrets()
    assert all(a["phone_index"] != b["phone_index"] for a, b in zip(after, before, strict=True) if b["phone_index"])
    await _assert_everything_readable()


def test_every_encrypted_column_is_read_and_written_back_in_order() -> None:
    # The chunk SQL is constant per table; the values are built in the order of ENCRYPTED.
    for table in {spec.table for spec in keys.ENCRYPTED}:
        columns = [
            c
            for spec in keys.ENCRYPTED
            if spec.table == table
            for c in (spec.column, spec.index_column)
            if c is not None
        ]
        write = keys._WRITE_SQL[table]
        positions = [write.index(f" {c} = {{}}") for c in columns]
        assert positions == sorted(positions) and write.count("{}") == len(columns) + 1
        read = keys._READ_SQL[table]
        assert all(f"{spec.column}" in read for spec in keys.ENCRYPTED if spec.table == table)
