"""Lookup: a member by card, typed number or phone as the counter and the API show them; every view is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app.components import audit, consents
from app.components.allergies import class_label, criticality_label, reaction_label, substance_label
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.errors import NotFound
from app.components.members.fields import iso
from app.components.members.numbers import (
    is_member_no,
    normalize_phone,
    phone_index,
    resolve_member_id,
    resolve_member_no,
)
from app.components.members.queries import member as queries
from app.db import as_date, as_datetime
from app.i18n import _
from app.settings import get_settings


@dataclass
class AllergyView:
    """One allergy as the counter shows it."""

    id: int
    allergen_class: str
    label: str
    substance: str
    substance_label: str
    criticality: str
    criticality_label: str
    reaction: str
    reaction_label: str
    verification_status: str
    recorded_by: str | None
    recorded_at: datetime | None


@dataclass
class MemberView:
    """A member as the counter and the API show them; the phone stays masked."""

    id: int
    member_no: str
    name: str
    gender: str
    birth_date: date | None
    age: int | None
    phone_masked: str
    home_store: str | None
    allergy_status: str
    allergy_status_by: str | None
    allergy_status_at: datetime | None
    verified_at: datetime | None
    needs_verification: bool
    allergies: list[AllergyView] = field(default_factory=list)
    member_class: str = "member"
    organisation: str = ""
    responsible_pharmacist: int | None = None
    consent_health: bool = False
    # What registration still lacks (codes from GAPS), for the counter's "continue registration".
    gaps: list[str] = field(default_factory=list)

    @property
    def high_risk(self) -> bool:
        return any(a.criticality == "high" for a in self.allergies)

    @property
    def next_step(self) -> str | None:
        """The registration step to continue with: "health", "preferences", or None when both were done."""
        if "health" in self.gaps:
            return "health"
        if "consents" in self.gaps:
            return "preferences"
        return None

    def as_json(self) -> dict:
        """The API representation."""
        return {
            "member_no": self.member_no,
            "name": self.name,
            "gender": self.gender,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "age": self.age,
            "phone": self.phone_masked,
            "home_store": self.home_store,
            "allergy_status": self.allergy_status,
            "allergy_status_recorded_by": self.allergy_status_by,
            "allergy_status_recorded_at": iso(self.allergy_status_at),
            "member_class": self.member_class,
            "organisation": self.organisation,
            "responsible_pharmacist": self.responsible_pharmacist,
            "verified_at": iso(self.verified_at),
            "missing": list(self.gaps),
            "allergies": [
                {
                    "id": a.id,
                    "allergen_class": a.allergen_class,
                    "allergen_class_label": a.label,
                    "substance": a.substance,
                    "criticality": a.criticality,
                    "reaction": a.reaction,
                    "verification_status": a.verification_status,
                    "recorded_by": a.recorded_by,
                    "recorded_at": iso(a.recorded_at),
                }
                for a in self.allergies
            ],
        }


def _gaps(row: dict, birth: date | None) -> list[str]:
    """What registration still lacks: a health step never answered, consents never asked, missing basics."""
    gaps = []
    if birth is None:
        gaps.append("birth_date")
    if not row["phone_masked"]:
        gaps.append("phone")
    if not row["health_asked"]:
        gaps.append("health")
    if (row["others_asked"] or 0) < len(consents.PURPOSES) - 1:
        gaps.append("consents")
    return gaps


def _views(rows: list[dict]) -> list[MemberView]:
    """Fold member⋈allergy rows into member views, keeping row order."""
    settings = get_settings()
    today = store_today()
    views: dict[int, MemberView] = {}
    for row in rows:
        view = views.get(row["id"])
        if view is None:
            birth = as_date(row["birth_date"])
            verified = as_datetime(row["verified_at"]) or as_datetime(row["created_at"])
            months = settings.profile_verify_months
            stale = verified is None or (datetime.now(UTC) - verified).days > months * 365 // 12
            view = views[row["id"]] = MemberView(
                id=row["id"],
                member_no=row["member_no"],
                name=row["name"],
                gender=row["gender"],
                birth_date=birth,
                age=age_on(birth, today),
                phone_masked=row["phone_masked"],
                home_store=row["home_store"],
                allergy_status=row["allergy_status"],
                allergy_status_by=row["status_by"],
                allergy_status_at=as_datetime(row["allergy_status_at"]),
                verified_at=as_datetime(row["verified_at"]),
                needs_verification=stale,
                member_class=row["member_class"] or "member",
                organisation=row["organisation"] or "",
                responsible_pharmacist=row["responsible_pharmacist"],
                consent_health=bool(row["consent_health"]),
                gaps=_gaps(row, birth),
            )
        if row["a_id"] is not None:
            view.allergies.append(
                AllergyView(
                    id=row["a_id"],
                    allergen_class=row["allergen_class"],
                    label=class_label(row["allergen_class"]),
                    substance=row["substance"],
                    substance_label=substance_label(row["allergen_class"], row["substance"]),
                    criticality=row["criticality"],
                    criticality_label=criticality_label(row["criticality"]),
                    reaction=row["reaction"],
                    reaction_label=reaction_label(row["reaction"]),
                    verification_status=row["verification_status"],
                    recorded_by=row["a_by"],
                    recorded_at=as_datetime(row["recorded_at"]),
                )
            )
    for view in views.values():
        # High criticality first: the pharmacist reads the banner left to right.
        view.allergies.sort(key=lambda a: (a.criticality != "high", a.label))
    return list(views.values())


async def _audited(views: list[MemberView], actor: StaffUser, detail: str) -> list[MemberView]:
    for view in views:
        await audit.record(actor, audit.ALLERGY_VIEW, member_id=view.id, detail=detail)
    return views


async def find_by_code(code: str, actor: StaffUser) -> list[MemberView]:
    """Members matching a scanned card, typed member number or phone number; each view is audited."""
    code = re.sub(r"\s", "", code or "")
    if is_member_no(code):
        rows = await queries.rows_by_member_no(code)
        if rows and rows[0]["merged_into"] is not None:
            # An old card of a merged-away record still works: it brings up the member now in use.
            live = await resolve_member_id(code)
            rows = await queries.rows_by_id(live) if live else []
    else:
        phone = normalize_phone(code)
        if phone is None:
            return []
        rows = await queries.rows_by_phone_index(phone_index(phone))
    return await _audited(_views(rows), actor, detail=f"lookup:{actor.channel}")


async def get_member(member_no: str, actor: StaffUser, detail: str = "read") -> MemberView:
    """One member by number, audited; NotFound says which number."""
    rows = await queries.member_rows(member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    if rows[0]["merged_into"] is not None:
        into = await resolve_member_no(member_no)
        raise NotFound(_("Member %(no)s was merged into %(into)s.") % {"no": member_no, "into": into or "—"})
    return (await _audited(_views(rows), actor, detail=detail))[0]


async def member_id(member_no: str) -> int:
    """The row id of a member number, or NotFound."""
    found = await queries.live_member_id(member_no)
    if found is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return found
