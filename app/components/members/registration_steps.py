"""Registration steps 2 and 3: health data after its consent, then the marketing and kiosk consents and preferences."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.components import consents, health
from app.components.allergies import NewAllergy, validate_allergy
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.members.allergy_status import add_allergy, record_no_known_allergies
from app.components.members.lookup import member_id
from app.db import transaction
from app.i18n import _

# Purposes asked at step 3 (health data is asked at step 2).
STEP3_PURPOSES = (consents.MARKETING_SMS, consents.MARKETING_WECHAT, consents.KIOSK_DISPLAY)


@dataclass
class HealthStep:
    """Step 2 of registration: consent to health data, then allergy status, conditions, height and weight."""

    consent: bool = False
    allergy_status: str = ""  # "" (not answered) | none | has_allergies
    allergy: NewAllergy | None = None
    conditions: list[str] = field(default_factory=list)
    height_cm: str = ""
    weight_kg: str = ""

    def has_health_data(self) -> bool:
        """Whether anything that would be stored as health data was entered."""
        return bool(
            self.allergy_status or self.conditions or (self.height_cm or "").strip() or (self.weight_kg or "").strip()
        )


async def _record_consent(member_id: int, purpose: str, granted: bool, actor: StaffUser) -> None:
    """Append a consent answer unless the same answer is already in force (a re-submitted step adds nothing)."""
    state = (await consents.current(member_id))[purpose]
    if state.at is None or state.granted != granted:
        await consents.set_consent(member_id, purpose, granted, actor, channel="counter")


async def save_health_step(member_no: str, step: HealthStep, actor: StaffUser) -> None:
    """Store step 2. Without consent nothing of it is stored: the refusal is recorded, or (when health data was
    entered anyway) a `consent` error says why. With consent everything is stored in one transaction, or nothing.
    """

    mid = await member_id(member_no)
    if not step.consent:
        if step.has_health_data():
            raise ValidationFailed(
                {
                    "consent": _(
                        "Without the member's consent to the processing of health data, nothing in this step can "
                        "be stored. Tick the consent if the member agrees, or continue without health data."
                    )
                }
            )
        async with transaction():
            await _record_consent(mid, consents.HEALTH_DATA, False, actor)
        return
    errors: dict[str, str] = {}
    if step.allergy_status not in ("", "none", "has_allergies"):
        errors["allergy_status"] = _("Choose no known allergies or has allergies.")
    elif step.allergy_status == "has_allergies":
        errors.update(validate_allergy(step.allergy or NewAllergy()))
    for code in step.conditions:
        condition_errors, _clean = health.validate_condition(health.NewCondition(code=code), actor)
        if condition_errors.get("code"):
            errors["conditions"] = condition_errors["code"]
    vitals = health.NewVital(height_cm=(step.height_cm or "").strip(), weight_kg=(step.weight_kg or "").strip())
    if vitals.height_cm or vitals.weight_kg:
        vital_errors, _readings = health.validate_vital(vitals)
        errors.update({k: v for k, v in vital_errors.items() if k in ("height_cm", "weight_kg")})
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        await _record_consent(mid, consents.HEALTH_DATA, True, actor)
        if step.allergy_status == "none":
            await record_no_known_allergies(member_no, actor)
        elif step.allergy_status == "has_allergies":
            await add_allergy(member_no, step.allergy or NewAllergy(), actor)
        for code in step.conditions:
            await health.add_condition(member_no, health.NewCondition(code=code, source="declared"), actor)
        if vitals.height_cm or vitals.weight_kg:
            await health.record_vital(member_no, vitals, actor, source="counter")


@dataclass
class PreferencesStep:
    """Step 3 of registration: marketing and kiosk consents, then preference tags."""

    marketing_sms: bool = False
    marketing_wechat: bool = False
    kiosk_display: bool = False
    # kind → values; kinds and values as in `health.PREFERENCE_KINDS` / `health.PREFERENCE_VALUES` (brands free).
    preferences: dict[str, list[str]] = field(default_factory=dict)


def split_brands(raw: str) -> list[str]:
    """Brands typed as one line: separated by commas (either width), 、 or semicolons."""
    return [b.strip() for b in re.split(r"[,，、;；\n]", raw or "") if b.strip()]


async def save_preferences_step(member_no: str, step: PreferencesStep, actor: StaffUser) -> None:
    """Store step 3: each consent answer (granted or declined) and the preference tags, all or nothing."""

    mid = await member_id(member_no)
    errors: dict[str, str] = {}
    tags: list[tuple[str, str]] = []
    for kind, values in step.preferences.items():
        for value in (v.strip() for v in values if v and v.strip()):
            if kind not in health.PREFERENCE_KINDS:
                errors[kind] = _("Unknown kind of preference.")
            elif kind == "brand" and len(value) > health.BRAND_MAX_LENGTH:
                errors[kind] = _("The brand is too long (60 characters at most).")
            elif kind != "brand" and value not in health.PREFERENCE_VALUES.get(kind, ()):
                errors[kind] = _("Choose one of the listed values.")
            else:
                tags.append((kind, value))
    if errors:
        raise ValidationFailed(errors)
    answers = dict(zip(STEP3_PURPOSES, (step.marketing_sms, step.marketing_wechat, step.kiosk_display), strict=True))
    async with transaction():
        for purpose, granted in answers.items():
            await _record_consent(mid, purpose, granted, actor)
        for kind, value in tags:
            await health.add_preference(member_no, kind, value, actor)
