"""What every health module uses: the member a record belongs to, the consent it needs, stored times read back."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from app.components import consents
from app.components.core.errors import NotFound, ValidationFailed
from app.components.health import queries
from app.i18n import _
from app.settings import get_settings


def store_zone() -> ZoneInfo:
    """The store's time zone."""
    return ZoneInfo(get_settings().timezone)


async def member(member_no: str) -> dict:
    """The live member a health record belongs to (`id`, `member_no`, `consent_health`, `allergy_status`)."""
    row = await queries.member_by_no((member_no or "").strip())
    if row is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return row


async def consent_errors(member_id: int) -> dict[str, str]:
    """The field error that the missing health-data consent gives, or none."""
    try:
        await consents.require_health_consent(member_id)
    except ValidationFailed as exc:
        return exc.errors
    return {}
