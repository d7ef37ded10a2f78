"""Settings read once from the environment, with secrets generated into the data directory."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _secret_file(data_dir: Path, name: str, nbytes: int = 32) -> str:
    """Read a hex secret from the data directory, creating it on first use."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(nbytes)
    # O_EXCL: two processes starting together must agree on one secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one Yaoshi instance."""

    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    data_key: str
    index_key: str
    port: int = 8000
    host: str = "127.0.0.1"
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh_CN"
    debug: bool = False
    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_window_seconds: int = 10 * 60
    profile_verify_months: int = 12
    # Selling beyond recorded stock: refused, or allowed with a store manager's PIN when this is on.
    allow_oversell: bool = False
    # Cash tendered may be at most this many times a sale's total (or the total plus one ¥100 note): more is a
    # mistyped amount, refused before any change is computed.
    cash_tender_multiple: int = 10
    # SQLite's `synchronous` on every connection of the embedded database (see app/db.py PooledSQLiteEngine).
    sqlite_synchronous: str = "FULL"
    # A held (parked) sale expires at the store's day end, or this many hours after it was parked when set.
    held_sale_hours: int = 0
    # The generic HTTP SMS gateway (issue 14): where to POST, the Authorization header, the body template with
    # $phone, $text and $key (JSON-escaped). No URL: SMS go to the log channel (a file under the data directory).
    sms_url: str = ""
    sms_auth: str = ""
    sms_body: str = '{"phone": "$phone", "text": "$text", "id": "$key"}'
    # False: this worker process runs queued jobs only, no schedule (a second worker for throughput, a bench).
    worker_cron: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def message_log(self) -> Path:
        """The log channel's file: one JSON line per message sent."""
        return self.data_dir / "messages.log"

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url


# FULL: a commit is on disk before it is acknowledged (survives a power cut). NORMAL: with WAL, survives a crash of
# the application but the last commits may be lost at a power cut or OS crash. EXTRA: FULL plus a directory sync.
SQLITE_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL")


def _sqlite_synchronous(value: str | None) -> str:
    mode = (value or "FULL").strip().upper()
    if mode not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"YAOSHI_SQLITE_SYNCHRONOUS must be one of {', '.join(SQLITE_SYNCHRONOUS)}, not {value!r}")
    return mode


def load_settings() -> Settings:
    """Build settings from the environment (`YAOSHI_DATA_DIR`, `DATABASE_URL`, `REDIS_URL`, …)."""
    data_dir = Path(os.environ.get("YAOSHI_DATA_DIR", ROOT / "var")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'yaoshi.sqlite3'}"
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=os.environ.get("SECRET_KEY") or _secret_file(data_dir, "secret_key"),
        data_key=os.environ.get("YAOSHI_DATA_KEY") or _secret_file(data_dir, "data_key"),
        index_key=os.environ.get("YAOSHI_INDEX_KEY") or _secret_file(data_dir, "index_key"),
        port=int(os.environ.get("PORT", "8000")),
        host=os.environ.get("HOST", "127.0.0.1"),
        timezone=os.environ.get("YAOSHI_TIMEZONE", "Asia/Shanghai"),
        default_language=os.environ.get("YAOSHI_LANGUAGE", "zh_CN"),
        debug=os.environ.get("YAOSHI_DEBUG") == "1",
        allow_oversell=os.environ.get("YAOSHI_ALLOW_OVERSELL") == "1",
        cash_tender_multiple=max(1, int(os.environ.get("YAOSHI_CASH_TENDER_MULTIPLE", "10"))),
        sqlite_synchronous=_sqlite_synchronous(os.environ.get("YAOSHI_SQLITE_SYNCHRONOUS")),
        held_sale_hours=max(0, min(int(os.environ.get("YAOSHI_HELD_SALE_HOURS") or 0), 24 * 7)),
        sms_url=os.environ.get("YAOSHI_SMS_URL", ""),
        sms_auth=os.environ.get("YAOSHI_SMS_AUTH", ""),
        sms_body=os.environ.get("YAOSHI_SMS_BODY") or Settings.sms_body,
        worker_cron=os.environ.get("YAOSHI_WORKER_CRON", "1") != "0",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return load_settings()
