"""Jinja filters shared by every surface: local times, money, masked values."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment

from app.settings import get_settings


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the chain's time zone."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo(get_settings().timezone)).strftime(fmt)


def local_date(value: date | datetime | None) -> str:
    """A date (or the local date of a timestamp) as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time(value, "%Y-%m-%d")
    return value.isoformat()


def yuan(fen: int | None) -> str:
    """Integer fen shown as ¥12.34."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100}.{fen % 100:02d}"


def register_filters(env: Environment) -> None:
    """Install the filters on an environment."""
    from app.components.audit import action_label
    from app.components.roles import role_label

    env.filters.update(
        local_time=local_time, local_date=local_date, yuan=yuan, role_label=role_label, action_label=action_label
    )
