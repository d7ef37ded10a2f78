"""Consents: an append-only ledger per purpose, withdrawal at any time, the marketing gate."""

from __future__ import annotations

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.consents import records as consents
from app.components.core.errors import NotFound, ValidationFailed
from app.components.timeline import stream as timeline
from app.db import fetch, is_sqlite
from app.i18n import use_language
from tests.conftest import actor


async def _member(name: str = "钱敏", phone: str = "") -> members.MemberView:
    return await members.register(members.NewMember(name=name, phone=phone), await actor())


async def _ledger() -> list[dict]:
    return await fetch("SELECT * FROM consent_event ORDER BY id")


async def _forbid_changes_to_the_ledger() -> None:
    """Database triggers that make any UPDATE or DELETE of consent_event fail."""
    if is_sqlite():
        for op in ("UPDATE", "DELETE"):
            await fetch(
                f"CREATE TRIGGER consent_no_{op.lower()} BEFORE {op} ON consent_event"
                " BEGIN SELECT RAISE(ABORT, 'consent_event is append-only'); END"
            )
    else:
        await fetch(
            "CREATE OR REPLACE FUNCTION consent_append_only() RETURNS trigger AS $$"
            " BEGIN RAISE EXCEPTION 'consent_event is append-only'; END; $$ LANGUAGE plpgsql"
        )
        await fetch(
            "CREATE TRIGGER consent_no_change BEFORE UPDATE OR DELETE ON consent_event"
            " FOR EACH ROW EXECUTE FUNCTION consent_append_only()"
        )


async def _allow_changes_to_the_ledger() -> None:
    if is_sqlite():
        await fetch("DROP TRIGGER IF EXISTS consent_no_update")
        await fetch("DROP TRIGGER IF EXISTS consent_no_delete")
    else:
        await fetch("DROP TRIGGER IF EXISTS consent_no_change ON consent_event")
        await fetch("DROP FUNCTION IF EXISTS consent_append_only()")


async def test_grant_then_withdraw_appends_rows_and_never_changes_old_ones() -> None:
    member = await _member()
    pharmacist = await actor()
    await _forbid_changes_to_the_ledger()
    try:
        granted = await consents.change_consent(member.member_no, consents.MARKETING_SMS, True, pharmacist)
        before = await _ledger()
        withdrawn = await consents.change_consent(member.member_no, consents.MARKETING_SMS, False, pharmacist)
        await consents.change_consent(member.member_no, consents.HEALTH_DATA, True, pharmacist)
        await consents.change_consent(member.member_no, consents.MARKETING_SMS, True, pharmacist)
    finally:
        await _allow_changes_to_the_ledger()
    after = await _ledger()
    assert after[: len(before)] == before  # the earlier rows are exactly as they were
    assert [(r["purpose"], bool(r["granted"])) for r in after] == [
        ("marketing_sms", True),
        ("marketing_sms", False),
        ("health_data", True),
        ("marketing_sms", True),
    ]
    assert granted.granted and not withdrawn.granted and withdrawn.asked
    assert all(r["staff"] == pharmacist.id and r["channel"] == "counter" for r in after)
    assert all(r["text_version"] == consents.TEXT_VERSION for r in after)


async def test_state_per_purpose_history_and_the_cached_columns_agree() -> None:
    member = await _member()
    pharmacist = await actor()
    mid = await members.member_id(member.member_no)
    state = await consents.current(mid)
    assert all(not s.asked and not s.granted for s in state.values())
    await consents.change_consent(member.member_no, consents.HEALTH_DATA, True, pharmacist)
    await consents.change_consent(member.member_no, consents.KIOSK_DISPLAY, True, pharmacist)
    await consents.change_consent(member.member_no, consents.KIOSK_DISPLAY, False, pharmacist)
    state = await consents.current(mid)
    assert state[consents.HEALTH_DATA].granted and state[consents.HEALTH_DATA].staff == pharmacist.display_name
    assert state[consents.KIOSK_DISPLAY].asked and not state[consents.KIOSK_DISPLAY].granted
    assert not state[consents.MARKETING_WECHAT].asked
    history = await consents.history(mid)
    assert [(h.purpose, h.granted) for h in history] == [
        ("kiosk_display", False),
        ("kiosk_display", True),
        ("health_data", True),
    ]
    row = (await fetch("SELECT * FROM member WHERE id = {}", mid))[0]
    assert row["consent_health"] and not row["consent_kiosk"] and not row["consent_marketing_sms"]


async def test_repeating_the_state_in_force_adds_nothing() -> None:
    member = await _member()
    pharmacist = await actor()
    await consents.change_consent(member.member_no, consents.MARKETING_WECHAT, True, pharmacist)
    await consents.change_consent(member.member_no, consents.MARKETING_WECHAT, True, pharmacist)
    assert len(await _ledger()) == 1
    # A first "no" is recorded: being asked and refusing differs from never being asked.
    await consents.change_consent(member.member_no, consents.MARKETING_SMS, False, pharmacist)
    assert len(await _ledger()) == 2


async def test_changes_are_audited_and_on_the_timeline() -> None:
    member = await _member()
    pharmacist = await actor()
    with use_language("en"):
        await consents.change_consent(member.member_no, consents.HEALTH_DATA, True, pharmacist)
        await consents.change_consent(member.member_no, consents.HEALTH_DATA, False, pharmacist)
    assert await audit.count(consents.CONSENT_GRANT) == 1
    assert await audit.count(consents.CONSENT_WITHDRAW) == 1
    # Written by a pharmacist working in English, read by each reader in their own language.
    with use_language("en"):
        assert [e.summary for e in await timeline.events(member.id) if e.kind == "consent"] == [
            "Processing of health data: withdrawn",
            "Processing of health data: granted",
        ]
    with use_language("zh_CN"):
        summaries = [e.summary for e in await timeline.events(member.id) if e.kind == "consent"]
    assert summaries == ["处理健康数据：已撤回", "处理健康数据：已同意"]
    await consents.consents_for(member.member_no, pharmacist)
    assert await audit.count(consents.CONSENT_VIEW) == 1


async def test_bad_purpose_and_unknown_member() -> None:
    member = await _member()
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await consents.change_consent(member.member_no, "telemarketing", True, await actor())
    assert err.value.errors == {"purpose": "Unknown consent purpose."}
    with pytest.raises(NotFound):
        await consents.change_consent("8000009995", consents.HEALTH_DATA, True, await actor())


async def test_may_send_marketing_follows_the_latest_decision_per_channel() -> None:
    member = await _member()
    pharmacist = await actor()
    mid = await members.member_id(member.member_no)
    assert not await consents.may_send_marketing(mid, "sms")  # never asked
    await consents.change_consent(member.member_no, consents.MARKETING_SMS, True, pharmacist)
    assert await consents.may_send_marketing(mid, "sms")
    assert await consents.may_send_marketing(mid, consents.MARKETING_SMS)
    assert not await consents.may_send_marketing(mid, "wechat")
    assert not await consents.may_send_marketing(mid, "carrier-pigeon")
    await consents.change_consent(member.member_no, consents.MARKETING_SMS, False, pharmacist)
    assert not await consents.may_send_marketing(mid, "sms")
    await consents.change_consent(member.member_no, consents.MARKETING_WECHAT, True, pharmacist)
    assert await consents.may_send_marketing(mid, "wechat")
    # Health-data consent is no marketing consent.
    await consents.change_consent(member.member_no, consents.HEALTH_DATA, True, pharmacist)
    assert not await consents.may_send_marketing(mid, "sms")


async def test_refresh_cache_rebuilds_the_columns_from_the_ledger() -> None:
    member = await _member()
    pharmacist = await actor()
    mid = await members.member_id(member.member_no)
    await consents.change_consent(member.member_no, consents.MARKETING_SMS, True, pharmacist)
    await fetch("UPDATE member SET consent_marketing_sms = {}, consent_health = {} WHERE id = {}", False, True, mid)
    await consents.refresh_cache([mid])
    row = (await fetch("SELECT consent_marketing_sms, consent_health FROM member WHERE id = {}", mid))[0]
    assert row["consent_marketing_sms"] and not row["consent_health"]
