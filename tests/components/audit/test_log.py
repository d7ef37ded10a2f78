"""The audit page's vocabulary: every action it offers as a filter has a name in each language."""

from __future__ import annotations

import pytest

from app.components.audit import log as audit
from app.i18n import LANGUAGES, use_language


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_filter_action_has_a_label(language: str) -> None:
    with use_language(language):
        labels = {action: audit.action_label(action) for action in audit.FILTER_ACTIONS}
    unlabelled = [action for action, label in labels.items() if label == action]
    assert unlabelled == []
    assert len(set(labels.values())) == len(labels), "two actions share a label"
