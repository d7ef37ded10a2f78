"""The counter's lookup: every view audited, unknown numbers not found."""

from __future__ import annotations

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.core.errors import NotFound
from tests.conftest import actor


async def test_every_allergy_view_is_audited() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="郑洁", phone="13600002222"), pharmacist)
    before = await audit.count(audit.ALLERGY_VIEW)
    await members.find_by_code(view.member_no, pharmacist)
    await members.get_member(view.member_no, pharmacist)
    assert await audit.count(audit.ALLERGY_VIEW) == before + 2
    page = await audit.search(audit.AuditFilter(member_no=view.member_no, action=audit.ALLERGY_VIEW))
    row = page.rows[0]
    assert (row["username"], row["role"], row["store_code"], row["client_addr"]) == (
        "pharmacist",
        "pharmacist",
        "SH001",
        "127.0.0.1",
    )


async def test_unknown_member_is_not_found_by_number() -> None:
    with pytest.raises(NotFound) as info:
        await members.get_member(members.member_no_for(999), await actor())
    assert members.member_no_for(999) in info.value.message
