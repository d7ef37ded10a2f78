"""Shared set-up of the health tests: a registered member (with or without the health-data consent), row counts."""

from __future__ import annotations

from app.components import members
from app.db import fetch
from tests.conftest import actor, grant_health_consent


async def new_member(name: str = "周健", consent: bool = True) -> str:
    """A registered member's number; with the health-data consent unless `consent` is False."""
    view = await members.register(members.NewMember(name=name), await actor())
    if consent:
        await grant_health_consent(view.member_no)
    return view.member_no


async def count(table: str) -> int:
    """How many rows `table` holds."""
    return (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
