"""Key rotation: new data and index keys; personal identifiers re-encrypted and blind indexes recomputed in chunks.

Run it with the web and worker processes stopped (they hold the keys in memory). It is resumable: the new keys
are written to `data_key.new` / `index_key.new` before any row changes, progress is kept in
`key_rotation.json`, and a row already re-encrypted is recognised (it decrypts with the new key) and left alone.
Only when every row is done are the key files swapped; the previous ones stay as `data_key.old` / `index_key.old`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.components.members import normalize_id_number, normalize_phone
from app.db import bulk_sql, execute_many, fetch, transaction
from app.settings import get_settings

KEY_FILES = ("data_key", "index_key")
PROGRESS_FILE = "key_rotation.json"
LOCK_FILE = "key_rotation.lock"
_VERSION = b"\x01"  # the ciphertext format of app.components.crypto


@dataclass(frozen=True)
class Encrypted:
    """An encrypted column, the context bound into its ciphertext, and its blind index (if any)."""

    table: str
    column: str
    context: str
    index_column: str | None = None
    normalise: Callable[[str], str] = str


# Every encrypted column in the schema; a later table with personal identifiers adds its line here.
ENCRYPTED: list[Encrypted] = [
    Encrypted("member", "phone_enc", "phone", "phone_index", lambda v: normalize_phone(v) or v),
    Encrypted("member", "id_number_enc", "id_number", "id_number_index", lambda v: normalize_id_number(v) or v),
    Encrypted("member", "address_enc", "address"),
]


# Per table: the chunk read (rows after an id, with any encrypted value) and the write-back of its columns in the
# order of ENCRYPTED (each encrypted column, then its blind index). A table added to ENCRYPTED adds its SQL here.
_READ_SQL = {
    "member": "SELECT id, phone_enc, id_number_enc, address_enc FROM member WHERE id > {}"
    " AND (phone_enc IS NOT NULL OR id_number_enc IS NOT NULL OR address_enc IS NOT NULL) ORDER BY id LIMIT {}",
}
_WRITE_SQL = {
    "member": "UPDATE member SET phone_enc = {}, phone_index = {}, id_number_enc = {}, id_number_index = {},"
    " address_enc = {} WHERE id = {}",
}


class KeyRotationError(Exception):
    """Rotation cannot start or go on; the message says why."""


@dataclass(frozen=True)
class RotationReport:
    """What one run did."""

    rows: int
    chunks: int
    resumed: bool
    finished: bool


def _encrypt(key_hex: str, plaintext: str, context: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, plaintext.encode(), context.encode())
    return base64.b64encode(_VERSION + nonce + ct).decode()


def _try_decrypt(key_hex: str, token: str, context: str) -> str | None:
    raw = base64.b64decode(token)
    try:
        return AESGCM(bytes.fromhex(key_hex)).decrypt(raw[1:13], raw[13:], context.encode()).decode()
    except InvalidTag:
        return None


def _index(key_hex: str, value: str, context: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), f"{context}:{value}".encode(), hashlib.sha256).hexdigest()


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_secret(path: Path, value: str) -> None:
    """Write a key file atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One rotation at a time (the lock goes with the process, so a crash never leaves it behind)."""
    with open(data_dir / LOCK_FILE, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KeyRotationError("another key rotation is running") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _new_keys(data_dir: Path) -> tuple[dict[str, str], bool]:
    """The target keys: those of an interrupted run, or fresh ones written before any row changes."""
    found = {name: _read(data_dir / f"{name}.new") for name in KEY_FILES}
    if all(found.values()):
        return found, True  # type: ignore[return-value]
    keys = {name: found[name] or secrets.token_hex(32) for name in KEY_FILES}
    for name, value in keys.items():
        _write_secret(data_dir / f"{name}.new", value)
    return keys, False


def _progress(data_dir: Path) -> dict[str, int]:
    raw = _read(data_dir / PROGRESS_FILE)
    return json.loads(raw) if raw else {}


def _save_progress(data_dir: Path, progress: dict[str, int]) -> None:
    _write_secret(data_dir / PROGRESS_FILE, json.dumps(progress))


async def _rotate_table(
    table: str,
    specs: list[Encrypted],
    old_data_keys: list[str],
    new_keys: dict[str, str],
    progress: dict[str, int],
    data_dir: Path,
    chunk_size: int,
    budget: list[int],
) -> tuple[int, int, bool]:
    """Re-encrypt one table's columns chunk by chunk (by id); return (rows, chunks, finished)."""
    sql = bulk_sql(_WRITE_SQL[table])
    rows_done = chunks = 0
    while True:
        if budget[0] == 0:
            return rows_done, chunks, False
        last = progress.get(table, 0)
        rows = await fetch(_READ_SQL[table], last, int(chunk_size))
        if not rows:
            return rows_done, chunks, True
        updates = []
        for row in rows:
            values: list[str | None] = []
            for spec in specs:
                token = row[spec.column]
                if not token:
                    values.extend([None, None] if spec.index_column else [None])
                    continue
                plain = _try_decrypt(new_keys["data_key"], token, spec.context)
                fresh = plain is not None  # already re-encrypted by an interrupted run
                for key in old_data_keys if plain is None else ():
                    plain = _try_decrypt(key, token, spec.context)
                    if plain is not None:
                        break
                if plain is None:
                    raise KeyRotationError(
                        f"{table}.{spec.column} of row {row['id']} decrypts with neither the old nor the new key"
                    )
                values.append(token if fresh else _encrypt(new_keys["data_key"], plain, spec.context))
                if spec.index_column:
                    values.append(_index(new_keys["index_key"], spec.normalise(plain), spec.context))
            updates.append((*values, row["id"]))
        async with transaction():
            await execute_many(sql, updates)
        progress[table] = rows[-1]["id"]
        _save_progress(data_dir, progress)
        rows_done += len(rows)
        chunks += 1
        budget[0] -= 1


def _swap_keys(data_dir: Path, new_keys: dict[str, str]) -> None:
    """Put the new keys in place, keeping the previous ones as *.old; safe to repeat after a crash."""
    for name in KEY_FILES:
        current, new_path = data_dir / name, data_dir / f"{name}.new"
        old_value = _read(current)
        if old_value and old_value != new_keys[name]:
            _write_secret(data_dir / f"{name}.old", old_value)
        if new_path.exists():
            os.replace(new_path, current)


async def rotate_keys(chunk_size: int = 1000, max_chunks: int | None = None) -> RotationReport:
    """Rotate the data and index keys of this instance (see the module docstring); resumable.

    `max_chunks` stops after that many chunks (the next run goes on from there); the keys are swapped only once
    every row is done.
    """
    if os.environ.get("YAOSHI_DATA_KEY") or os.environ.get("YAOSHI_INDEX_KEY"):
        raise KeyRotationError(
            "the keys come from YAOSHI_DATA_KEY / YAOSHI_INDEX_KEY: rotate-keys rotates the key files of "
            "YAOSHI_DATA_DIR, so unset them first (and set the new values everywhere afterwards)"
        )
    settings = get_settings()
    data_dir = settings.data_dir
    with _exclusive(data_dir):
        new_keys, resumed = _new_keys(data_dir)
        old_keys = [settings.data_key]
        if (older := _read(data_dir / "data_key.old")) and older not in old_keys:
            old_keys.append(older)
        # Progress only means something for the keys it was made with.
        progress = _progress(data_dir) if resumed else {}
        budget = [-1 if max_chunks is None else max_chunks]
        total_rows = total_chunks = 0
        by_table: dict[str, list[Encrypted]] = {}
        for spec in ENCRYPTED:
            by_table.setdefault(spec.table, []).append(spec)
        for table, specs in by_table.items():
            rows, chunks, finished = await _rotate_table(
                table, specs, old_keys, new_keys, progress, data_dir, chunk_size, budget
            )
            total_rows += rows
            total_chunks += chunks
            if not finished:
                return RotationReport(total_rows, total_chunks, resumed, finished=False)
        _swap_keys(data_dir, new_keys)
        (data_dir / PROGRESS_FILE).unlink(missing_ok=True)
        get_settings.cache_clear()
    return RotationReport(total_rows, total_chunks, resumed, finished=True)
