"""The audit page's vocabulary: every action it offers as a filter has a name in each language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.components.audit import log as audit
from app.i18n import LANGUAGES, use_language
from tests.conftest import actor


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_filter_action_has_a_label(language: str) -> None:
    with use_language(language):
        labels = {action: audit.action_label(action) for action in audit.FILTER_ACTIONS}
    unlabelled = [action for action, label in labels.items() if label == action]
    assert unlabelled == []
    assert len(set(labels.values())) == len(labels), "two actions share a label"


async def test_search_filters_by_each_field_newest_first_a_page_at_a_time() -> None:
    pharmacist, clerk = await actor(), await actor("clerk")
    await audit.record(pharmacist, audit.LOGIN)
    await audit.record(clerk, audit.LOGIN)
    await audit.record(pharmacist, audit.ALLERGY_VIEW, detail="viewed")
    everything = await audit.search(audit.AuditFilter())
    assert [r["action"] for r in everything.rows][:3] == [audit.ALLERGY_VIEW, audit.LOGIN, audit.LOGIN]
    mine = await audit.search(audit.AuditFilter(username="pharmacist", action=audit.LOGIN, store_code="SH001"))
    assert [(r["username"], r["action"]) for r in mine.rows] == [("pharmacist", audit.LOGIN)]
    today = datetime.now(UTC).date()  # the page passes dates
    assert len((await audit.search(audit.AuditFilter(date_from=today - timedelta(days=1), date_to=today))).rows) == 3
    assert (await audit.search(audit.AuditFilter(date_to=today - timedelta(days=2)))).rows == []
    first = await audit.search(audit.AuditFilter(), page=1, per_page=2)
    second = await audit.search(audit.AuditFilter(), page=2, per_page=2)
    assert first.has_next and not second.has_next and len(second.rows) == 1
