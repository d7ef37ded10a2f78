"""Preference tags: coded values, free brands, added once and removed."""

from __future__ import annotations

import pytest

from app.components import health, members
from app.components.core.errors import ValidationFailed
from app.components.health import preferences
from app.db import fetch
from tests.components.health.health_data import count as _count
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor


async def test_preferences_are_coded_tags_added_once_and_removed() -> None:
    clerk = await actor("clerk")
    member_no = await _member(consent=False)  # preferences are not health data
    await health.add_preference(member_no, "channel", "wechat", clerk)
    await health.add_preference(member_no, "channel", "wechat", clerk)
    await health.add_preference(member_no, "brand", " 同仁堂 ", clerk)
    await health.add_preference(member_no, "contact_time", "evening", clerk)
    found = await preferences.preferences(await members.member_id(member_no))
    assert [p.value for p in found["channel"]] == ["wechat"]
    assert [p.value for p in found["brand"]] == ["同仁堂"]
    assert found["dosage_form"] == []
    for kind, value, field in (("colour", "red", "kind"), ("channel", "pigeon", "value"), ("brand", "", "value")):
        with pytest.raises(ValidationFailed) as info:
            await health.add_preference(member_no, kind, value, clerk)
        assert field in info.value.errors
    assert await health.remove_preference(member_no, "channel", "wechat", clerk)
    assert not await health.remove_preference(member_no, "channel", "wechat", clerk)
    assert await _count("member_preference") == 2
    assert len(await fetch("SELECT id FROM member_event WHERE kind = 'preference'")) == 4
