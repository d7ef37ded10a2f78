"""Preference tags: brands (free), dosage forms, contact channel and time of day (coded); each at most once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.components import timeline
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.health import queries
from app.components.health.shared import member as member_by_no
from app.db import transaction
from app.i18n import N_, _

# Timeline kind for preference tags (conditions, vitals and allergies use the timeline module's kinds).
PREFERENCE_EVENT = "preference"


PREFERENCE_KINDS = ("brand", "dosage_form", "channel", "contact_time", "language")
# Coded values per kind; brands are free tags.
PREFERENCE_VALUES: dict[str, tuple[str, ...]] = {
    "dosage_form": (
        "tablet",
        "capsule",
        "granules",
        "oral_liquid",
        "chewable",
        "effervescent",
        "injection",
        "inhaler",
        "topical",
        "drops",
        "patch",
        "suppository",
        "tcm_decoction",
    ),
    "channel": ("sms", "wechat", "phone", "in_store"),
    "contact_time": ("morning", "noon", "afternoon", "evening", "weekend"),
    # The language messages to the member are written in (none: the chain's default language).
    "language": ("zh_CN", "en"),
}
BRAND_MAX_LENGTH = 60


def preference_kind_label(kind: str) -> str:
    """A preference kind's name in the current language."""
    return {
        "brand": _("Brands"),
        "dosage_form": _("Dosage forms"),
        "channel": _("Contact channel"),
        "contact_time": _("Time of day to contact"),
        "language": _("Language of messages"),
    }.get(kind, kind)


def preference_label(kind: str, value: str) -> str:
    """A preference value's name (brands are shown as entered)."""
    labels = {
        "tablet": _("tablets"),
        "capsule": _("capsules"),
        "granules": _("granules"),
        "oral_liquid": _("oral liquid"),
        "chewable": _("chewable tablets"),
        "effervescent": _("effervescent tablets"),
        "injection": _("injections"),
        "inhaler": _("inhalers"),
        "topical": _("creams and ointments"),
        "drops": _("drops"),
        "patch": _("patches"),
        "suppository": _("suppositories"),
        "tcm_decoction": _("TCM decoction"),
        "sms": _("SMS"),
        "wechat": _("WeChat"),
        "phone": _("phone call"),
        "in_store": _("in the store only"),
        "morning": _("morning"),
        "noon": _("noon"),
        "afternoon": _("afternoon"),
        "evening": _("evening"),
        "weekend": _("weekends"),
        "zh_CN": "中文",
        "en": "English",
    }
    return value if kind == "brand" else labels.get(value, value)


@dataclass
class PreferenceView:
    """One preference tag."""

    id: int
    kind: str
    value: str

    @property
    def label(self) -> str:
        return preference_label(self.kind, self.value)

    def as_json(self) -> dict:
        return {"kind": self.kind, "value": self.value, "label": self.label}


async def member_language(member_id: int) -> str | None:
    """The language the member's messages are written in ("zh_CN" or "en"; the latest tag), None when not set."""
    tags = [r["value"] for r in await queries.preferences_of(member_id) if r["kind"] == "language"]
    return tags[-1] if tags else None


async def preferences(member_id: int) -> dict[str, list[PreferenceView]]:
    """kind → tags, every kind present (possibly empty), coded values in vocabulary order."""
    rows = await queries.preferences_of(member_id)
    found: dict[str, list[PreferenceView]] = {k: [] for k in PREFERENCE_KINDS}
    for r in rows:
        found.setdefault(r["kind"], []).append(PreferenceView(r["id"], r["kind"], r["value"]))
    for kind, values in PREFERENCE_VALUES.items():
        order = {v: i for i, v in enumerate(values)}
        found[kind].sort(key=lambda p: order.get(p.value, len(order)))
    return found


def _validate_preference(kind: str, value: str) -> tuple[dict[str, str], str, str]:
    kind = (kind or "").strip()
    value = (value or "").strip()
    errors: dict[str, str] = {}
    if kind not in PREFERENCE_KINDS:
        errors["kind"] = _("Choose brand, dosage form, contact channel, time of day or language.")
    elif kind == "brand":
        if not value:
            errors["value"] = _("Enter the brand.")
        elif len(value) > BRAND_MAX_LENGTH:
            errors["value"] = _("The brand is too long (60 characters at most).")
    elif value not in PREFERENCE_VALUES[kind]:
        errors["value"] = _("Choose one of the listed values.")
    return errors, kind, value


async def add_preference(member_no: str, kind: str, value: str, actor: StaffUser | None) -> PreferenceView:
    """Tag the member with a preference (brand | dosage_form | channel | contact_time); adding it twice is a no-op."""
    member = await member_by_no(member_no)
    errors, kind, value = _validate_preference(kind, value)
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        added = await queries.insert_preference(member["id"], kind, value, datetime.now(UTC))
        if added is not None:
            await timeline.record_event(
                member["id"],
                PREFERENCE_EVENT,
                timeline.message(
                    N_("Preference added: %(kind)s — %(value)s"),
                    kind=timeline.Label("preference_kind", kind),
                    value=timeline.Label("preference", f"{kind}|{value}"),
                ),
                actor,
                ref=f"preference:{added}",
            )
    return PreferenceView(await queries.preference_id(member["id"], kind, value), kind, value)


async def remove_preference(member_no: str, kind: str, value: str, actor: StaffUser | None) -> bool:
    """Remove a preference tag; True when there was one."""
    member = await member_by_no(member_no)
    kind, value = (kind or "").strip(), (value or "").strip()
    async with transaction():
        removed = await queries.delete_preference(member["id"], kind, value)
        if removed is not None:
            await timeline.record_event(
                member["id"],
                PREFERENCE_EVENT,
                timeline.message(
                    N_("Preference removed: %(kind)s — %(value)s"),
                    kind=timeline.Label("preference_kind", kind),
                    value=timeline.Label("preference", f"{kind}|{value}"),
                ),
                actor,
                ref=f"preference:{removed}",
            )
    return removed is not None


timeline.register_labeller("preference_kind", preference_kind_label)
timeline.register_labeller("preference", lambda code: preference_label(*code.partition("|")[::2]))
