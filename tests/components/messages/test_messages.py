"""Messages: queued once in the caller's transaction, the rules at send time, rendering, the sender and the log."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.components import consents, health, members, messages, timeline
from app.components.core.errors import ValidationFailed
from app.components.messages import queries
from app.db import fetch, transaction
from app.i18n import use_language
from app.settings import get_settings
from tests.conftest import actor

# 10:00 in Shanghai (UTC+8): outside quiet hours.
MORNING = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)


def _key(prefix: str = "t") -> str:
    return f"{prefix}:{uuid.uuid4().hex}"


async def _member(phone: str = "13800138000", name: str = "钱敏") -> members.MemberView:
    return await members.register(members.NewMember(name=name, phone=phone), await actor())


async def _grant(member_id: int, *purposes: str, granted: bool = True) -> None:
    async with transaction():
        for purpose in purposes:
            await consents.set_consent(member_id, purpose, granted, await actor())


async def _queue(member_id: int, purpose: str, template: str, params: dict | None = None, key: str = "") -> str:
    key = key or _key()
    store_id = (await actor()).store_id
    async with transaction():
        assert await messages.queue_member_message(key, member_id, store_id, purpose, template, params or {}, MORNING)
    return key


async def _status(key: str) -> messages.MessageView:
    found = await messages.message_by_key(key)
    assert found is not None
    return found


def _logged(key: str) -> list[dict]:
    path = get_settings().message_log
    if not path.exists():
        return []
    return [r for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()) if r["key"] == key]


# ---------------------------------------------------------------- queueing


async def test_queueing_twice_under_one_key_makes_one_message() -> None:
    member = await _member()
    key = _key()
    async with transaction():
        assert await messages.queue_member_message(key, member.id, None, "service", "welcome", {}, MORNING)
        assert not await messages.queue_member_message(key, member.id, None, "service", "welcome", {}, MORNING)
    rows = await fetch("SELECT status, purpose, template FROM message WHERE key = {}", key)
    assert rows == [{"status": "queued", "purpose": "service", "template": "welcome"}]


async def test_a_message_queued_in_a_rolled_back_transaction_is_not_there() -> None:
    member = await _member()
    key = _key()
    with pytest.raises(RuntimeError):
        async with transaction():
            await messages.queue_member_message(key, member.id, None, "care", "refill_reminder", {}, MORNING)
            raise RuntimeError("the step failed")
    assert await messages.message_by_key(key) is None


async def test_unknown_template_or_purpose_is_refused() -> None:
    member = await _member()
    with pytest.raises(ValidationFailed) as bad:
        await messages.queue_member_message(_key(), member.id, None, "care", "nope", {}, MORNING)
    assert "template" in bad.value.errors
    with pytest.raises(ValidationFailed):
        await messages.queue_member_message(_key(), member.id, None, "staff", "urgent_task", {}, MORNING)
    with pytest.raises(ValidationFailed):  # a marketing template is not a care message
        await messages.queue_member_message(_key(), member.id, None, "care", "birthday", {}, MORNING)


# ---------------------------------------------------------------- templates


def test_every_template_of_the_contract_exists_with_its_purpose() -> None:
    found = {t.code: t for t in messages.templates()}
    for code in (
        "usage_note",
        "refill_reminder",
        "welcome",
        "birthday",
        "holiday_greeting",
        "flu_season",
        "confirm_details",
        "churn_winback",
        "urgent_task",
    ):
        assert code in found
    assert found["refill_reminder"].purpose == "care"
    assert found["flu_season"].purpose == "care"  # health advice to chronic patients, not an offer
    assert found["urgent_task"].purpose == "staff"
    assert "drug" in found["refill_reminder"].variables
    with use_language("en"):
        assert found["refill_reminder"].label == "Refill reminder"
    with use_language("zh_CN"):
        assert found["refill_reminder"].label != "Refill reminder"


def test_rendering_in_the_members_language_with_per_language_values() -> None:
    params = {"name": "Ann", "drug": {"zh-CN": "氨氯地平", "en": "amlodipine"}, "date": "2027-01-09", "store": "S1"}
    english = messages.render("refill_reminder", params, "en", details=True)
    assert english == "Ann, amlodipine may run out around 2027-01-09. S1 can have it ready for you."
    chinese = messages.render("refill_reminder", params, "zh_CN", details=True)
    assert "氨氯地平" in chinese and "amlodipine" not in chinese


def test_the_drug_is_not_named_without_the_members_agreement() -> None:
    params = {"name": "Ann", "drug": {"zh-CN": "氨氯地平", "en": "amlodipine"}, "date": "2027-01-09"}
    english = messages.render("refill_reminder", params, "en", details=False)
    assert "amlodipine" not in english and "your medicine" in english
    chinese = messages.render("refill_reminder", params, "zh_CN", details=False)
    assert "氨氯地平" not in chinese


def test_a_staff_notice_shows_a_tasks_title_msgid_translated() -> None:
    params = {"title": "Refill reminder", "name": "钱敏", "date": "2027-01-09", "store": "SH001"}
    assert "续药提醒" in messages.render("urgent_task", params, "zh_CN")
    assert "Refill reminder for 钱敏" in messages.render("urgent_task", params, "en")


def test_a_missing_variable_renders_empty_not_an_error() -> None:
    assert messages.render("welcome", {}, "en") == "Welcome to , : your membership is active."


# ---------------------------------------------------------------- quiet hours and the cap (pure rules)


def _shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


@pytest.mark.parametrize(
    ("local", "until"),
    [
        (_shanghai(5, 20, 59, 59), None),
        (_shanghai(5, 21, 0, 0), _shanghai(6, 8)),  # 21:00 exactly is quiet
        (_shanghai(5, 23, 59, 59), _shanghai(6, 8)),
        (_shanghai(6, 0, 0, 0), _shanghai(6, 8)),  # just past midnight: the same morning
        (_shanghai(6, 7, 59, 59), _shanghai(6, 8)),
        (_shanghai(6, 8, 0, 0), None),  # 08:00 exactly is not
    ],
)
def test_quiet_hours_across_midnight_and_at_the_boundaries(local: datetime, until: datetime | None) -> None:
    assert messages.quiet_until(local, "Asia/Shanghai") == until


def test_quiet_hours_follow_the_stores_zone() -> None:
    # 22:00 UTC is 06:00 in Shanghai (quiet) and 22:00 in London (quiet), 14:00 in Los Angeles (not).
    now = datetime(2027, 1, 5, 22, 0, tzinfo=UTC)
    assert messages.quiet_until(now, "Asia/Shanghai") == datetime(2027, 1, 6, 0, 0, tzinfo=UTC)
    assert messages.quiet_until(now, "America/Los_Angeles") is None


def test_over_the_cap_care_waits_for_a_free_slot_and_marketing_is_dropped() -> None:
    granted = {"marketing_sms": True, "health_data": True}
    sent = [MORNING - timedelta(days=6), MORNING - timedelta(days=2), MORNING - timedelta(days=1)]
    care = messages.decide("care", MORNING, "Asia/Shanghai", granted, sent, cap=3)
    assert (care.action, care.reason, care.until) == ("defer", "weekly_cap", sent[0] + timedelta(days=7))
    marketing = messages.decide("marketing", MORNING, "Asia/Shanghai", granted, sent, cap=3)
    assert (marketing.action, marketing.reason) == ("suppress", "weekly_cap")
    assert messages.decide("care", MORNING, "Asia/Shanghai", granted, sent[1:], cap=3).action == "send"
    assert messages.decide("service", MORNING, "Asia/Shanghai", {}, sent, cap=3).action == "send"


# ---------------------------------------------------------------- the sender on real tables


async def test_marketing_needs_the_marketing_consent() -> None:
    member = await _member()
    key = await _queue(member.id, "marketing", "holiday_greeting")
    await messages.send_due(MORNING)
    assert (await _status(key)).status == "suppressed"
    assert (await _status(key)).reason == "no_marketing_consent"
    assert _logged(key) == []
    await _grant(member.id, consents.MARKETING_SMS)
    key = await _queue(member.id, "marketing", "holiday_greeting")
    await messages.send_due(MORNING)
    assert (await _status(key)).status == "sent"
    assert len(_logged(key)) == 1


async def test_a_sent_message_is_logged_once_shown_in_its_language_and_on_the_timeline() -> None:
    member = await _member(name="Ann")
    await health.add_preference(member.member_no, "language", "en", await actor())
    key = await _queue(member.id, "service", "welcome")
    report = await messages.send_due(MORNING)
    assert report.sent == 1
    sent = await _status(key)
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at is not None
    assert sent.body.startswith("Welcome to ") and ", Ann: your membership is active." in sent.body
    assert _logged(key)[0]["text"] == sent.body
    with use_language("en"):
        events = [e for e in await timeline.events(member.id) if e.kind == messages.MESSAGE_EVENT]
    assert len(events) == 1 and events[0].ref.startswith("message:")
    assert events[0].summary == "Message sent: Welcome"  # stored as a code, read in the reader's language
    # A second run finds nothing due and sends nothing twice.
    assert (await messages.send_due(MORNING + timedelta(minutes=10))).claimed == 0
    assert len(_logged(key)) == 1


async def test_care_needs_health_consent_and_the_member_can_turn_it_off() -> None:
    member = await _member()
    key = await _queue(member.id, "care", "refill_reminder", {"drug": "氨氯地平"})
    await messages.send_due(MORNING)
    assert ((await _status(key)).status, (await _status(key)).reason) == ("suppressed", "no_health_consent")
    await _grant(member.id, consents.HEALTH_DATA)
    key = await _queue(member.id, "care", "refill_reminder", {"drug": "氨氯地平"})
    await messages.send_due(MORNING)
    sent = await _status(key)
    assert sent.status == "sent"
    assert "氨氯地平" not in sent.body  # not agreed to be named in an SMS
    await _grant(member.id, consents.SMS_DETAILS)
    key = await _queue(member.id, "care", "refill_reminder", {"drug": "氨氯地平"})
    await messages.send_due(MORNING)
    assert "氨氯地平" in (await _status(key)).body
    await _grant(member.id, consents.CARE_MESSAGES, granted=False)
    key = await _queue(member.id, "care", "refill_reminder", {"drug": "氨氯地平"})
    await messages.send_due(MORNING)
    assert ((await _status(key)).status, (await _status(key)).reason) == ("suppressed", "care_off")


async def test_quiet_hours_defer_to_eight_in_the_morning_and_the_message_then_goes() -> None:
    member = await _member()
    night = _shanghai(5, 22, 30)
    key = _key()
    async with transaction():
        await messages.queue_member_message(key, member.id, (await actor()).store_id, "service", "welcome", {}, night)
    await messages.send_due(night)
    deferred = await _status(key)
    assert (deferred.status, deferred.reason, deferred.not_before) == ("deferred", "quiet_hours", _shanghai(6, 8))
    assert (await messages.send_due(_shanghai(6, 7, 59, 59))).claimed == 0
    await messages.send_due(_shanghai(6, 8))
    assert (await _status(key)).status == "sent"


async def test_the_weekly_cap_on_real_rows() -> None:
    member = await _member()
    await _grant(member.id, consents.HEALTH_DATA, consents.MARKETING_SMS)
    for day in (0, 1, 2):
        key = await _queue(member.id, "marketing", "holiday_greeting")
        await messages.send_due(MORNING + timedelta(days=day))
        assert (await _status(key)).status == "sent"
    now = MORNING + timedelta(days=3)
    marketing = await _queue(member.id, "marketing", "holiday_greeting")
    care = await _queue(member.id, "care", "refill_reminder")
    service = await _queue(member.id, "service", "confirm_details")
    await messages.send_due(now)
    assert ((await _status(marketing)).status, (await _status(marketing)).reason) == ("suppressed", "weekly_cap")
    capped = await _status(care)
    assert (capped.status, capped.reason, capped.not_before) == ("deferred", "weekly_cap", MORNING + timedelta(days=7))
    assert (await _status(service)).status == "sent"  # service messages are not capped
    await messages.send_due(MORNING + timedelta(days=7))
    assert (await _status(care)).status == "sent"


async def test_a_member_merged_away_gets_nothing() -> None:
    survivor = await _member("13800138001", "钱敏")
    merged = await _member("13800138002", "钱敏")
    await _grant(merged.id, consents.MARKETING_SMS)
    key = await _queue(merged.id, "marketing", "holiday_greeting")
    await members.merge(survivor.member_no, merged.member_no, await actor("manager"))
    await messages.send_due(MORNING)
    assert ((await _status(key)).status, (await _status(key)).reason) == ("suppressed", "member_merged")


async def test_a_message_left_sending_by_a_killed_worker_is_sent_once() -> None:
    member = await _member()
    key = await _queue(member.id, "service", "welcome")
    # A worker claims the batch and delivers, then dies before recording it.
    async with transaction():
        claimed = await queries.claim_due(MORNING, MORNING - messages.CLAIM_TIMEOUT, 100)
    assert [r["key"] for r in claimed] == [key]
    text = messages.render("welcome", {}, "zh_CN")
    messages.deliver_log(get_settings().message_log, messages.Outgoing(key, "log", text), MORNING)
    # Another sender soon after leaves it alone (the claim is fresh) …
    assert (await messages.send_due(MORNING + timedelta(minutes=1))).claimed == 0
    assert (await _status(key)).status == "sending"
    # … and takes it over once the claim is stale: recorded as sent, the log still holds one line.
    report = await messages.send_due(MORNING + messages.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert report.sent == 1
    assert (await _status(key)).status == "sent"
    assert len(_logged(key)) == 1
    events = [e for e in await timeline.events(member.id) if e.kind == messages.MESSAGE_EVENT]
    assert len(events) == 1


async def test_staff_notices_go_to_the_log_without_a_robot_and_ignore_quiet_hours() -> None:
    store_id = (await actor()).store_id
    key = _key("notice")
    night = _shanghai(5, 23)
    async with transaction():
        assert await messages.queue_staff_notice(key, store_id, "urgent_task", {"task": "BP review"}, night)
    await messages.send_due(night)
    sent = await _status(key)
    assert (sent.status, sent.channel, sent.member_no) == ("sent", "log", None)
    assert "BP review" in sent.body


async def test_manager_lists_are_store_scoped_and_filter_by_status() -> None:
    member = await _member()
    mine = await _queue(member.id, "marketing", "holiday_greeting")
    other_store = (await actor("pharmacist2")).store_id
    other = _key()
    async with transaction():
        await messages.queue_member_message(other, member.id, other_store, "service", "welcome", {}, MORNING)
    await messages.send_due(MORNING)
    manager = [m.key for m in await messages.recent_messages(await actor("manager"))]
    assert mine in manager and other not in manager
    admin = [m.key for m in await messages.recent_messages(await actor("admin"))]
    assert mine in admin and other in admin
    suppressed = await messages.recent_messages(await actor("admin"), status="suppressed")
    assert [m.key for m in suppressed] == [mine]
    with use_language("en"):
        assert suppressed[0].reason_label == "No consent to marketing SMS"


@pytest.mark.postgres
async def test_two_senders_at_once_never_claim_the_same_message() -> None:
    member = await _member()
    keys = [await _queue(member.id, "service", "welcome") for _ in range(6)]

    async def claim() -> list[str]:
        async with transaction():
            rows = await queries.claim_due(MORNING, MORNING - messages.CLAIM_TIMEOUT, 4)
            return [r["key"] for r in rows]

    first, second = await asyncio.gather(claim(), claim())
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(keys)
