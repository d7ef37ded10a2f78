"""Consents: an append-only ledger per purpose; the member row caches what is in force."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.components import audit, events, timeline
from app.components.consents import queries
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.db import transaction
from app.i18n import N_, _

HEALTH_DATA = "health_data"
MARKETING_SMS = "marketing_sms"
MARKETING_WECHAT = "marketing_wechat"
KIOSK_DISPLAY = "kiosk_display"
PURPOSES = (HEALTH_DATA, MARKETING_SMS, MARKETING_WECHAT, KIOSK_DISPLAY)
# What messages may say and whether care reminders go (issue 14). Not cached on the member row: the sender reads
# the ledger. SMS_DETAILS: a drug or condition may be named in an SMS (never asked → not named).
# CARE_MESSAGES: care reminders by SMS; on once health data is consented, until the member turns them off.
SMS_DETAILS = "sms_details"
CARE_MESSAGES = "care_messages"
MESSAGE_PURPOSES = (SMS_DETAILS, CARE_MESSAGES)
ALL_PURPOSES = PURPOSES + MESSAGE_PURPOSES
# The cached column on `member` for each purpose.
COLUMNS = queries.CACHE_COLUMNS
# The version of the consent text the member was shown; bump when the wording changes.
TEXT_VERSION = "2026-11"
# Every version whose wording this module can still show (a consent names the one the member was shown).
TEXT_VERSIONS = (TEXT_VERSION,)
CHANNELS = ("counter", "kiosk", "api", "import", "sms")
# Marketing channels of the messaging issue → the purpose that must be granted.
MARKETING_PURPOSES = {"sms": MARKETING_SMS, "wechat": MARKETING_WECHAT}
CONSENT_VIEW = "consent.view"
CONSENT_GRANT = "consent.grant"
CONSENT_WITHDRAW = "consent.withdraw"


def purpose_label(purpose: str) -> str:
    """A purpose's name in the current language."""
    return {
        HEALTH_DATA: _("Processing of health data"),
        MARKETING_SMS: _("Marketing messages by SMS"),
        MARKETING_WECHAT: _("Marketing messages by WeChat"),
        KIOSK_DISPLAY: _("Showing health data on the kiosk"),
        SMS_DETAILS: _("Medicine and condition names in SMS"),
        CARE_MESSAGES: _("Care reminders by SMS"),
    }.get(purpose, purpose)


def purpose_text(purpose: str) -> str:
    """What the member agrees to, as staff read it out (version `TEXT_VERSION`)."""
    return {
        HEALTH_DATA: _(
            "I agree that the pharmacy records and uses my allergies, conditions, vitals and medicines "
            "to advise me safely."
        ),
        MARKETING_SMS: _("I agree to receive offers and news from the pharmacy by SMS."),
        MARKETING_WECHAT: _("I agree to receive offers and news from the pharmacy by WeChat."),
        KIOSK_DISPLAY: _("I agree that my health data is shown on the store's self-service kiosk after I sign in."),
        SMS_DETAILS: _("I agree that SMS from the pharmacy may name my medicines and conditions."),
        CARE_MESSAGES: _("I want care reminders by SMS (refills, how to take my medicines)."),
    }.get(purpose, "")


def channel_label(channel: str) -> str:
    """Where something was given, measured or done (a consent, a vital sign, an audited request), in the current
    language: the one label for every source and channel code users see."""
    return {
        "counter": _("at the counter"),
        "kiosk": _("at the kiosk"),
        "api": _("through the API"),
        "import": _("by import"),
        "web": _("in the browser"),
        "sms": _("by SMS reply"),
    }.get(channel, channel)


@dataclass(frozen=True)
class ConsentState:
    """What is in force for one purpose, and since when."""

    purpose: str
    granted: bool
    at: datetime | None
    channel: str
    staff: str | None
    text_version: str

    @property
    def label(self) -> str:
        return purpose_label(self.purpose)

    @property
    def asked(self) -> bool:
        """False while the member was never asked (nothing in the ledger)."""
        return self.at is not None


async def set_consent(
    member_id: int,
    purpose: str,
    granted: bool,
    actor: StaffUser | None,
    channel: str = "counter",
    text_version: str = TEXT_VERSION,
) -> None:
    """Record a grant or withdrawal. Call inside the caller's transaction; it appends and updates the cache."""
    if purpose not in ALL_PURPOSES:
        raise ValidationFailed({"purpose": _("Unknown consent purpose.")})
    if channel not in CHANNELS:
        raise ValidationFailed({"channel": _("Unknown channel.")})
    now = datetime.now(UTC)
    event_id = await queries.append(
        member_id, purpose, granted, now, channel, actor.id if actor else None, text_version
    )
    await queries.set_cache(member_id, purpose, granted)
    # A withdrawal ends the journeys that needed it (the care engine handles the event).
    await events.record(
        f"consent.changed:{event_id}",
        events.CONSENT_CHANGED,
        member_id,
        actor.store_id if actor else None,
        {"purpose": purpose, "granted": granted, "channel": channel},
        now,
    )
    msgid = N_("%(purpose)s: granted") if granted else N_("%(purpose)s: withdrawn")
    summary = timeline.message(msgid, purpose=timeline.Label("consent_purpose", purpose))
    await timeline.record_event(member_id, timeline.CONSENT, summary, actor, ref=purpose)


async def grant_now(member_id: int, purpose: str, actor: StaffUser | None, channel: str = "counter") -> None:
    """Grant one purpose now, in a transaction of its own (the counter's one-tap health-data consent)."""
    async with transaction():
        await set_consent(member_id, purpose, True, actor, channel=channel)


async def current(member_id: int) -> dict[str, ConsentState]:
    """The state in force per purpose (never asked → not granted, no time)."""
    rows = await queries.ledger(member_id)
    state = {p: ConsentState(p, False, None, "", None, "") for p in ALL_PURPOSES}
    for r in rows:
        state[r["purpose"]] = ConsentState(
            r["purpose"], bool(r["granted"]), r["at"], r["channel"], r["staff"], r["text_version"]
        )
    return state


async def history(member_id: int) -> list[ConsentState]:
    """Every grant and withdrawal, newest first."""
    rows = await queries.ledger(member_id, newest_first=True)
    return [
        ConsentState(r["purpose"], bool(r["granted"]), r["at"], r["channel"], r["staff"], r["text_version"])
        for r in rows
    ]


async def has_health_consent(member_id: int) -> bool:
    """Whether health data may be stored for this member (cached column, kept in step with the ledger)."""
    return await queries.health_consent_cached(member_id)


async def require_health_consent(member_id: int) -> None:
    """Refuse to store health data without the member's consent, saying why."""
    if not await has_health_consent(member_id):
        raise ValidationFailed(
            {
                "consent": _(
                    "The member has not consented to the processing of health data, so it cannot be stored. "
                    "Ask for consent first."
                )
            }
        )


async def _live_member_id(member_no: str) -> int:
    found = await queries.member_id_by_no(member_no)
    if found is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return found


async def consents_for(member_no: str, actor: StaffUser) -> tuple[int, dict[str, ConsentState], list[ConsentState]]:
    """The member's id, the state per purpose and the whole history (newest first); the view is audited."""
    mid = await _live_member_id(member_no)
    await audit.record(actor, CONSENT_VIEW, member_id=mid)
    return mid, await current(mid), await history(mid)


async def change_consent(
    member_no: str, purpose: str, granted: bool, actor: StaffUser, channel: str = "counter"
) -> ConsentState:
    """Grant or withdraw one purpose now (withdrawal is always possible); repeating the state in force adds nothing.

    The ledger only ever gains rows: a withdrawal is a new row, never an edit of the grant.
    """
    return (await record_consent(member_no, purpose, granted, actor, channel=channel))[0]


async def record_consent(
    member_no: str,
    purpose: str,
    granted: bool,
    actor: StaffUser,
    channel: str = "counter",
    text_version: str = TEXT_VERSION,
) -> tuple[ConsentState, bool]:
    """`change_consent` that also says whether a row was recorded (False: that state was in force, given to the
    same wording). `text_version` is the wording the member was shown: only a version this module has."""
    if purpose not in ALL_PURPOSES:
        raise ValidationFailed({"purpose": _("Unknown consent purpose.")})
    if text_version not in TEXT_VERSIONS:
        raise ValidationFailed(
            {
                "text_version": _("Unknown consent text version %(version)s: the current text is version %(current)s.")
                % {"version": text_version, "current": TEXT_VERSION}
            }
        )
    mid = await _live_member_id(member_no)
    async with transaction():
        state = (await current(mid))[purpose]
        if state.asked and state.granted == granted and state.text_version == text_version:
            return state, False
        await set_consent(mid, purpose, granted, actor, channel=channel, text_version=text_version)
        await audit.record(actor, CONSENT_GRANT if granted else CONSENT_WITHDRAW, member_id=mid, detail=purpose)
        return (await current(mid))[purpose], True


async def may_send_marketing(member_id: int, channel: str) -> bool:
    """Whether a marketing message may go to this member on `channel` ("sms" or "wechat"), from the ledger itself.

    Never asked, withdrawn, an unknown channel or a merged-away member: no.
    """
    purpose = MARKETING_PURPOSES.get(channel, channel if channel in (MARKETING_SMS, MARKETING_WECHAT) else None)
    if purpose is None:
        return False
    return bool(await queries.latest_grant(member_id, purpose))


async def message_consents(member_id: int) -> dict[str, bool | None]:
    """The latest ledger answer per purpose of a live member, for the message sender (None: never asked; every
    purpose None when the member is merged away or unknown)."""
    return {p: await queries.latest_grant(member_id, p) for p in ALL_PURPOSES}


async def refresh_cache(member_ids: Iterable[int]) -> None:
    """Recompute the cached consent columns of some members from the ledger (after rows moved in a merge)."""
    ids = sorted(set(member_ids))
    if not ids:
        return
    await queries.refresh_cache(ids)


timeline.register_labeller("consent_purpose", purpose_label)
