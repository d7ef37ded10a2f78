"""Catalog tests read messages and names in English; `demo` seeds the demo catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.components import catalog
from app.i18n import use_language


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages and names are matched in English (the source language)."""
    with use_language("en"):
        yield


@pytest.fixture
async def demo() -> int:
    return await catalog.seed_demo_catalog()
