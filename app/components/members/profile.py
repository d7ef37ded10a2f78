"""Members: numbers with a check digit, registration, lookup by card or phone, the allergy record."""

from __future__ import annotations

import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import barcode
import segno
from barcode.writer import SVGWriter

from app.components import audit, consents, health, timeline
from app.components.allergies import (
    CATEGORIES,
    CLINICAL_STATUSES,
    CRITICALITIES,
    REACTIONS,
    SEVERITIES,
    VERIFICATION_STATUSES,
    allergen_classes,
    class_label,
    criticality_label,
    reaction_label,
    substance_label,
)
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.crypto import decrypt, encrypt
from app.components.core.errors import NotFound, ValidationFailed
from app.components.members import duplicates
from app.components.members.numbers import (
    id_number_index,
    is_member_no,
    mask_id_number,
    mask_phone,
    member_no_for,
    next_serials,
    normalize_phone,
    parse_id_number,
    phone_index,
    resolve_member_id,
    resolve_member_no,
)
from app.db import fetch, transaction
from app.i18n import N_, _
from app.settings import get_settings

ALLERGY_STATUSES = ("unknown", "none", "has_allergies")
GENDERS = ("M", "F", "U")
MEMBER_CLASSES = ("regular", "member", "key_account")
# Fields a profile edit may change, in the order the form shows them.
EDITABLE_FIELDS = (
    "name",
    "gender",
    "birth_date",
    "phone",
    "address",
    "id_number",
    "member_class",
    "organisation",
    "responsible_pharmacist",
)
# Personal identifiers: encrypted at rest, and the edit history records that they changed, never the values.
ENCRYPTED_FIELDS = ("phone", "id_number", "address")
# What registration still lacks, as shown on the counter panel (see `_gaps`).
GAPS = ("birth_date", "phone", "health", "consents")
DETAILS_VIEW = "member.details_view"
MEMBER_EDIT = "member.edit"
MEMBER_VERIFY = "member.verify"
PHONE_REVEAL = "member.phone_reveal"


# ---------------------------------------------------------------- views


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
            "allergy_status_recorded_at": _iso(self.allergy_status_at),
            "member_class": self.member_class,
            "organisation": self.organisation,
            "responsible_pharmacist": self.responsible_pharmacist,
            "verified_at": _iso(self.verified_at),
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
                    "recorded_at": _iso(a.recorded_at),
                }
                for a in self.allergies
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_MEMBER_SQL = (
    "SELECT m.id, m.merged_into, m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.allergy_status,"
    " m.allergy_status_at, m.verified_at, m.created_at, st.name AS home_store, sb.display_name AS status_by,"
    " m.member_class, m.organisation, m.responsible_pharmacist, m.consent_health,"
    " (SELECT COUNT(*) FROM consent_event c WHERE c.member = m.id AND c.purpose = 'health_data') AS health_asked,"
    " (SELECT COUNT(DISTINCT c.purpose) FROM consent_event c WHERE c.member = m.id"
    " AND c.purpose <> 'health_data') AS others_asked,"
    " a.id AS a_id, a.allergen_class, a.substance, a.criticality, a.reaction, a.verification_status,"
    " a.recorded_at, rb.display_name AS a_by"
    " FROM member m"
    " LEFT JOIN store st ON st.id = m.home_store"
    " LEFT JOIN staff sb ON sb.id = m.allergy_status_by"
    " LEFT JOIN allergy a ON a.member = m.id AND a.clinical_status = 'active'"
    " AND a.verification_status NOT IN ('refuted', 'entered-in-error')"
    " LEFT JOIN staff rb ON rb.id = a.recorded_by"
)


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


def gap_label(code: str) -> str:
    """What the counter says is missing."""
    return {
        "birth_date": _("No birth date"),
        "phone": _("No mobile phone"),
        "health": _("Health step not done"),
        "consents": _("No consent recorded for marketing messages or the kiosk"),
    }.get(code, code)


def member_class_label(code: str) -> str:
    """A member class's name in the current language."""
    return {
        "regular": _("Regular customer"),
        "member": _("Member"),
        "key_account": _("Key account"),
    }.get(code, code)


def gender_label(code: str) -> str:
    """A gender's name in the current language."""
    return {"M": _("male"), "F": _("female"), "U": _("not stated")}.get(code, code)


def _views(rows: list[dict]) -> list[MemberView]:
    """Fold member⋈allergy rows into member views, keeping row order."""
    settings = get_settings()
    today = store_today()
    views: dict[int, MemberView] = {}
    for row in rows:
        view = views.get(row["id"])
        if view is None:
            birth = _as_date(row["birth_date"])
            verified = _as_datetime(row["verified_at"]) or _as_datetime(row["created_at"])
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
                allergy_status_at=_as_datetime(row["allergy_status_at"]),
                verified_at=_as_datetime(row["verified_at"]),
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
                    recorded_at=_as_datetime(row["recorded_at"]),
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
        rows = await fetch(_MEMBER_SQL + " WHERE m.member_no = {} ORDER BY m.id, a.id", code)
        if rows and rows[0]["merged_into"] is not None:
            # An old card of a merged-away record still works: it brings up the member now in use.
            live = await resolve_member_id(code)
            rows = await fetch(_MEMBER_SQL + " WHERE m.id = {} ORDER BY m.id, a.id", live) if live else []
    else:
        phone = normalize_phone(code)
        if phone is None:
            return []
        rows = await fetch(
            _MEMBER_SQL + " WHERE m.phone_index = {} AND m.merged_into IS NULL ORDER BY m.id, a.id", phone_index(phone)
        )
    return await _audited(_views(rows), actor, detail=f"lookup:{actor.channel}")


async def get_member(member_no: str, actor: StaffUser, detail: str = "read") -> MemberView:
    """One member by number, audited; NotFound says which number."""
    rows = await fetch(_MEMBER_SQL + " WHERE m.member_no = {} ORDER BY a.id", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    if rows[0]["merged_into"] is not None:
        into = await resolve_member_no(member_no)
        raise NotFound(_("Member %(no)s was merged into %(into)s.") % {"no": member_no, "into": into or "—"})
    return (await _audited(_views(rows), actor, detail=detail))[0]


async def member_id(member_no: str) -> int:
    """The row id of a member number, or NotFound."""
    rows = await fetch("SELECT id FROM member WHERE member_no = {} AND merged_into IS NULL", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return rows[0]["id"]


# ---------------------------------------------------------------- registration


@dataclass
class NewMember:
    """What registration accepts (and what an import row carries); every field is the text as typed."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: str = ""
    store_code: str = ""
    address: str = ""
    id_number: str = ""
    member_class: str = "member"
    organisation: str = ""
    # A staff id (as text) of a pharmacist of the member's home store.
    responsible_pharmacist: str = ""


def _check_birth_date(raw: str, errors: dict[str, str]) -> date | None:
    try:
        birth = date.fromisoformat(raw.strip())
    except ValueError:
        errors["birth_date"] = _("Enter the birth date as YYYY-MM-DD.")
        return None
    today = store_today()
    if birth > today:
        errors["birth_date"] = _("The birth date cannot be in the future.")
    elif (age_on(birth, today) or 0) > 120:
        errors["birth_date"] = _("The birth date is more than 120 years ago.")
    return birth


def validate_new_member(data: NewMember, pharmacists: Collection[int] | None = None) -> tuple[dict[str, str], dict]:
    """Field errors and the cleaned values.

    `pharmacists` are the staff ids that may be the member's responsible pharmacist (the pharmacists of the
    home store, see `store_pharmacists`); without it only the id's form is checked. With a resident ID number
    and no birth date, the birth date is taken from the ID; with both, they must agree.
    """
    errors: dict[str, str] = {}
    clean: dict = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = _("Enter the member's name.")
    elif len(name) > 60:
        errors["name"] = _("The name is too long (60 characters at most).")
    clean["name"] = name
    gender = (data.gender or "U").strip().upper()
    if gender not in GENDERS:
        errors["gender"] = _("Choose male, female or not stated.")
    clean["gender"] = gender
    clean["birth_date"] = _check_birth_date(data.birth_date, errors) if (data.birth_date or "").strip() else None
    clean["phone"] = None
    if data.phone and data.phone.strip():
        phone = normalize_phone(data.phone)
        if phone is None:
            errors["phone"] = _("Enter a valid mainland China mobile number (11 digits, starting with 1).")
        clean["phone"] = phone
    address = re.sub(r"\s+", " ", data.address or "").strip()
    if len(address) > 200:
        errors["address"] = _("The address is too long (200 characters at most).")
    clean["address"] = address or None
    clean["id_number"] = None
    if (data.id_number or "").strip():
        number, id_birth, message = parse_id_number(data.id_number)
        if message:
            errors["id_number"] = message
        else:
            clean["id_number"] = number
            if not (data.birth_date or "").strip():
                clean["birth_date"] = id_birth
            elif "birth_date" not in errors and clean["birth_date"] != id_birth:
                errors["id_number"] = _(
                    "The birth date in the resident ID number (%(date)s) does not match the birth date entered."
                ) % {"date": id_birth.isoformat()}
    member_class = (data.member_class or "member").strip()
    if member_class not in MEMBER_CLASSES:
        errors["member_class"] = _("Choose regular customer, member or key account.")
    clean["member_class"] = member_class
    organisation = (data.organisation or "").strip()
    if len(organisation) > 100:
        errors["organisation"] = _("The organisation's name is too long (100 characters at most).")
    elif member_class == "key_account" and not organisation:
        errors["organisation"] = _("A key account needs the name of its institution or company.")
    clean["organisation"] = organisation
    clean["responsible_pharmacist"] = None
    raw_pharmacist = str(data.responsible_pharmacist or "").strip()
    if raw_pharmacist:
        if not raw_pharmacist.isdigit() or (pharmacists is not None and int(raw_pharmacist) not in pharmacists):
            errors["responsible_pharmacist"] = _("Choose a pharmacist of the member's store.")
        else:
            clean["responsible_pharmacist"] = int(raw_pharmacist)
    return errors, clean


async def _store_id(code: str) -> int | None:
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    return rows[0]["id"] if rows else None


async def store_pharmacists(store_id: int | None) -> dict[int, str]:
    """The active pharmacists of a store, id → display name (who may be a member's responsible pharmacist)."""
    if store_id is None:
        return {}
    rows = await fetch(
        "SELECT id, display_name FROM staff WHERE store = {} AND role = 'pharmacist' AND active = {}"
        " ORDER BY display_name, id",
        store_id,
        True,
    )
    return {r["id"]: r["display_name"] for r in rows}


class DuplicatesFound(Exception):
    """Registration stopped because likely duplicates exist; the caller shows them and may insist."""

    def __init__(self, duplicates: list) -> None:
        super().__init__(f"{len(duplicates)} likely duplicate(s)")
        self.duplicates = duplicates


async def likely_duplicates(clean: dict, exclude_member_id: int | None = None) -> list:
    """Members who are probably the same person (same phone, same ID number, or same name and birth date).

    The matching rules live in `duplicates`; each result has `.member_no`, `.name`, `.reasons`.
    """
    return await duplicates.likely_duplicates(
        clean.get("phone"),
        clean.get("id_number"),
        clean.get("name"),
        clean.get("birth_date"),
        exclude_member_id=exclude_member_id,
    )


async def register(data: NewMember, actor: StaffUser, allow_duplicates: bool = True) -> MemberView:
    """Create a member at the actor's store (HQ names a store); returns the new member's view.

    With `allow_duplicates=False` nothing is saved when likely duplicates exist: `DuplicatesFound` lists them.
    """
    store_errors: dict[str, str] = {}
    store_id = actor.store_id
    if data.store_code:
        store_id = await _store_id(data.store_code)
        if store_id is None:
            store_errors["store"] = _("No store with code %(code)s.") % {"code": data.store_code}
    elif store_id is None:
        store_errors["store"] = _("Name the member's home store.")
    pharmacists = await store_pharmacists(store_id) if store_id is not None else None
    errors, clean = validate_new_member(data, pharmacists=pharmacists)
    errors.update(store_errors)
    if errors:
        raise ValidationFailed(errors)
    if not allow_duplicates:
        duplicates = await likely_duplicates(clean)
        if duplicates:
            raise DuplicatesFound(duplicates)
    phone, id_number, address = clean["phone"], clean["id_number"], clean["address"]
    now = datetime.now(UTC)
    async with transaction():
        serial = await next_serials("member")
        member_no = member_no_for(serial)
        rows = await fetch(
            "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked,"
            " id_number_enc, id_number_index, address_enc, member_class, organisation, responsible_pharmacist,"
            " home_store, allergy_status, created_at, updated_at, verified_at, verified_by)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'unknown', {}, {}, {}, {}) RETURNING id",
            member_no,
            clean["name"],
            clean["gender"],
            clean["birth_date"],
            encrypt(phone, "phone") if phone else None,
            phone_index(phone) if phone else None,
            mask_phone(phone),
            encrypt(id_number, "id_number") if id_number else None,
            id_number_index(id_number) if id_number else None,
            encrypt(address, "address") if address else None,
            clean["member_class"],
            clean["organisation"],
            clean["responsible_pharmacist"],
            store_id,
            now,
            now,
            now,
            actor.id,
        )
        new_id = rows[0]["id"]
        await audit.record(actor, audit.MEMBER_CREATE, member_id=new_id)
        await timeline.record_event(
            new_id,
            timeline.REGISTERED,
            timeline.message(
                N_("Registered as %(class)s"), **{"class": timeline.Label("member_class", clean["member_class"])}
            ),
            actor,
            ref=member_no,
        )
    return await get_member(member_no, actor, detail="after-create")


async def reveal_phone(member_no: str, actor: StaffUser) -> str | None:
    """The member's phone in clear (own edit form only), audited."""
    rows = await fetch("SELECT id, phone_enc FROM member WHERE member_no = {}", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    await audit.record(actor, PHONE_REVEAL, member_id=rows[0]["id"])
    return decrypt(rows[0]["phone_enc"], "phone")


# ---------------------------------------------------------------- allergies


@dataclass
class NewAllergy:
    """A coded allergy as entered at the counter or sent by the API."""

    allergen_class: str = ""
    substance: str = ""
    category: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""
    severity: str = ""
    verification_status: str = "unconfirmed"
    clinical_status: str = "active"
    note: str = ""


def validate_allergy(data: NewAllergy) -> dict[str, str]:
    """Field errors for an allergy entry."""
    errors: dict[str, str] = {}
    cls = allergen_classes().get(data.allergen_class or "")
    if cls is None:
        errors["allergen_class"] = _("Unknown allergen class %(code)s: choose one from the list.") % {
            "code": data.allergen_class or "—"
        }
    elif data.substance and data.substance not in {s[0] for s in cls.substances}:
        errors["substance"] = _("%(substance)s is not a substance of %(cls)s.") % {
            "substance": data.substance,
            "cls": cls.label,
        }
    if data.category and data.category not in CATEGORIES:
        errors["category"] = _("Unknown category.")
    if data.criticality not in CRITICALITIES:
        errors["criticality"] = _("Criticality must be low, high or unable-to-assess.")
    if data.reaction not in REACTIONS:
        errors["reaction"] = _("Unknown reaction.")
    if data.severity not in SEVERITIES:
        errors["severity"] = _("Severity must be mild, moderate or severe.")
    if data.verification_status not in VERIFICATION_STATUSES:
        errors["verification_status"] = _("Unknown verification status.")
    if data.clinical_status not in CLINICAL_STATUSES:
        errors["clinical_status"] = _("Clinical status must be active, inactive or resolved.")
    return errors


async def add_allergy(member_no: str, data: NewAllergy, actor: StaffUser) -> MemberView:
    """Record a coded allergy; the member's status becomes `has_allergies`."""
    await consents.require_health_consent(await member_id(member_no))  # no health data without consent
    errors = validate_allergy(data)
    if errors:
        raise ValidationFailed(errors)
    mid = await member_id(member_no)
    cls = allergen_classes()[data.allergen_class]
    now = datetime.now(UTC)
    async with transaction():
        await fetch(
            "INSERT INTO allergy (member, allergen_class, substance, category, allergy_type, criticality, reaction,"
            " severity, verification_status, clinical_status, note, recorded_by, recorded_at)"
            " VALUES ({}, {}, {}, {}, 'allergy', {}, {}, {}, {}, {}, {}, {}, {})",
            mid,
            data.allergen_class,
            data.substance,
            data.category or cls.category,
            data.criticality,
            data.reaction,
            data.severity,
            data.verification_status,
            data.clinical_status,
            data.note,
            actor.id,
            now,
        )
        await fetch(
            "UPDATE member SET allergy_status = 'has_allergies', allergy_status_by = {}, allergy_status_at = {},"
            " updated_at = {} WHERE id = {}",
            actor.id,
            now,
            now,
            mid,
        )
        await audit.record(actor, audit.ALLERGY_RECORD, member_id=mid, detail=data.allergen_class)
    return await get_member(member_no, actor, detail="after-allergy")


async def record_no_known_allergies(member_no: str, actor: StaffUser) -> MemberView:
    """The member says they have no known allergies: recorded with who and when."""
    mid = await member_id(member_no)
    await consents.require_health_consent(mid)  # the allergy status is health data too
    active = await fetch("SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'", mid)
    if active[0]["n"]:
        raise ValidationFailed(
            {"allergy_status": _("This member has active allergies; resolve them before recording none.")}
        )
    now = datetime.now(UTC)
    async with transaction():
        await fetch(
            "UPDATE member SET allergy_status = 'none', allergy_status_by = {}, allergy_status_at = {},"
            " updated_at = {} WHERE id = {}",
            actor.id,
            now,
            now,
            mid,
        )
        await audit.record(actor, audit.ALLERGY_NONE, member_id=mid)
    return await get_member(member_no, actor, detail="after-allergy")


async def allergy_status_counts(store_id: int | None) -> dict[str, int]:
    """How many members are in each allergy status, for one store or (None) the whole chain."""
    where, args = (
        ("WHERE merged_into IS NULL AND home_store = {}", [store_id]) if store_id else ("WHERE merged_into IS NULL", [])
    )
    rows = await fetch(f"SELECT allergy_status, COUNT(*) AS n FROM member {where} GROUP BY allergy_status", *args)
    counts = dict.fromkeys(ALLERGY_STATUSES, 0)
    counts.update({r["allergy_status"]: r["n"] for r in rows})
    return counts


async def flag_verification_due(months: int | None = None) -> int:
    """Set-based: mark members whose profile was not confirmed for `months`; return how many are due."""
    months = months or get_settings().profile_verify_months
    cutoff = datetime.now(UTC).replace(microsecond=0) - timedelta(days=months * 365 // 12)
    await fetch(
        "UPDATE member SET verification_due = (COALESCE(verified_at, created_at) < {})"
        " WHERE verification_due <> (COALESCE(verified_at, created_at) < {})",
        cutoff,
        cutoff,
    )
    rows = await fetch("SELECT COUNT(*) AS n FROM member WHERE verification_due = {}", True)
    return rows[0]["n"]


# ---------------------------------------------------------------- profile details, edits with history, verification


def field_label(name: str) -> str:
    """A profile field's name in the current language."""
    return {
        "name": _("Name"),
        "gender": _("Gender"),
        "birth_date": _("Birth date"),
        "phone": _("Mobile phone"),
        "address": _("Address"),
        "id_number": _("Resident ID number"),
        "member_class": _("Member class"),
        "organisation": _("Organisation"),
        "responsible_pharmacist": _("Responsible pharmacist"),
    }.get(name, name)


@dataclass
class MemberDetails:
    """The "details" section: class, contacts and identifiers (address in clear, phone and ID masked)."""

    id: int
    member_no: str
    name: str
    gender: str
    birth_date: date | None
    member_class: str
    organisation: str
    responsible_pharmacist_id: int | None
    responsible_pharmacist: str | None
    phone_masked: str
    address: str | None
    id_masked: str
    home_store_id: int | None
    home_store: str | None
    verified_at: datetime | None
    verified_by: str | None
    needs_verification: bool

    @property
    def member_class_label(self) -> str:
        return member_class_label(self.member_class)


_DETAILS_SQL = (
    "SELECT m.id, m.member_no, m.name, m.gender, m.birth_date, m.member_class, m.organisation,"
    " m.responsible_pharmacist, rp.display_name AS pharmacist_name, m.phone_enc, m.phone_masked, m.address_enc,"
    " m.id_number_enc, m.home_store, st.name AS store_name, m.verified_at, vb.display_name AS verified_by_name,"
    " m.created_at FROM member m"
    " LEFT JOIN staff rp ON rp.id = m.responsible_pharmacist"
    " LEFT JOIN staff vb ON vb.id = m.verified_by"
    " LEFT JOIN store st ON st.id = m.home_store"
    " WHERE m.member_no = {}"
)


async def _details_row(member_no: str) -> dict:
    rows = await fetch(_DETAILS_SQL, member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return rows[0]


def _stale(verified: datetime | None) -> bool:
    months = get_settings().profile_verify_months
    return verified is None or (datetime.now(UTC) - verified).days > months * 365 // 12


async def details(member_no: str, actor: StaffUser) -> MemberDetails:
    """The member's details with the address decrypted; audited (personal identifiers were read)."""
    row = await _details_row(member_no)
    await audit.record(actor, DETAILS_VIEW, member_id=row["id"])
    verified = _as_datetime(row["verified_at"])
    return MemberDetails(
        id=row["id"],
        member_no=row["member_no"],
        name=row["name"],
        gender=row["gender"],
        birth_date=_as_date(row["birth_date"]),
        member_class=row["member_class"] or "member",
        organisation=row["organisation"] or "",
        responsible_pharmacist_id=row["responsible_pharmacist"],
        responsible_pharmacist=row["pharmacist_name"],
        phone_masked=row["phone_masked"] or "",
        address=decrypt(row["address_enc"], "address"),
        id_masked=mask_id_number(decrypt(row["id_number_enc"], "id_number")),
        home_store_id=row["home_store"],
        home_store=row["store_name"],
        verified_at=verified,
        verified_by=row["verified_by_name"],
        needs_verification=_stale(verified or _as_datetime(row["created_at"])),
    )


def _current_values(row: dict) -> dict:
    """The stored profile fields in clear, keyed like `EDITABLE_FIELDS`."""
    return {
        "name": row["name"],
        "gender": row["gender"],
        "birth_date": _as_date(row["birth_date"]),
        "phone": decrypt(row["phone_enc"], "phone"),
        "address": decrypt(row["address_enc"], "address"),
        "id_number": decrypt(row["id_number_enc"], "id_number"),
        "member_class": row["member_class"] or "member",
        "organisation": row["organisation"] or "",
        "responsible_pharmacist": row["responsible_pharmacist"],
    }


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


async def edit_values(member_no: str, actor: StaffUser) -> NewMember:
    """The member's own edit form, filled in: the phone in clear (audited as a reveal), the ID number left blank."""
    row = await _details_row(member_no)
    values = _current_values(row)
    await audit.record(actor, PHONE_REVEAL, member_id=row["id"], detail="edit-form")
    form = NewMember(**{f: _as_text(values[f]) for f in EDITABLE_FIELDS})
    form.id_number = ""  # blank keeps the stored number; it is never shown in clear
    return form


@dataclass(frozen=True)
class FieldChange:
    """One changed field of one edit; encrypted fields carry "added", "changed" or "removed" instead of values."""

    field: str
    old: str
    new: str


# An error on one of these is caused by a change to the other (ID ↔ birth date, class ↔ organisation).
_RELATED = {
    "id_number": {"birth_date"},
    "birth_date": {"id_number"},
    "organisation": {"member_class"},
    "member_class": {"organisation"},
}


async def update_member(member_no: str, changes: dict[str, str], actor: StaffUser) -> list[FieldChange]:
    """Change some profile fields (a partial update) with the registration rules; one history row per change.

    `changes` maps field names from `EDITABLE_FIELDS` to the text as typed ("" clears a field). Errors are
    reported only for the fields changed (and the ones they must agree with), so a stale value elsewhere
    never blocks an unrelated edit. Returns what changed; nothing changed writes nothing.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed({name: _("This field cannot be changed here.") for name in unknown})
    row = await _details_row(member_no)
    current = _current_values(row)
    merged = NewMember(**{f: _as_text(current[f]) for f in EDITABLE_FIELDS})
    for name, value in changes.items():
        setattr(merged, name, "" if value is None else str(value))
    errors, clean = validate_new_member(merged, pharmacists=await store_pharmacists(row["home_store"]))
    errors = {k: v for k, v in errors.items() if k in changes or _RELATED.get(k, set()) & changes.keys()}
    if errors:
        raise ValidationFailed(errors)
    touched = set(changes)
    if "id_number" in touched and not merged.birth_date.strip():
        touched.add("birth_date")  # taken from the new ID number
    diffs = [f for f in EDITABLE_FIELDS if f in touched and current[f] != clean[f]]
    if not diffs:
        return []
    result = []
    assignments: dict[str, object] = {}
    for name in diffs:
        old, new = current[name], clean[name]
        if name in ENCRYPTED_FIELDS:
            marker = "added" if old is None else "removed" if new is None else "changed"
            result.append(FieldChange(name, "", marker))
            assignments[f"{name}_enc"] = encrypt(new, name) if new else None
            if name == "phone":
                assignments["phone_index"] = phone_index(new) if new else None
                assignments["phone_masked"] = mask_phone(new)
            elif name == "id_number":
                assignments["id_number_index"] = id_number_index(new) if new else None
        else:
            result.append(FieldChange(name, _as_text(old), _as_text(new)))
            assignments[name] = new
    now = datetime.now(UTC)
    assignments["updated_at"] = now
    columns = ", ".join(f"{column} = {{}}" for column in assignments)
    async with transaction():
        await fetch(f"UPDATE member SET {columns} WHERE id = {{}}", *assignments.values(), row["id"])
        for change in result:
            await fetch(
                "INSERT INTO member_change (member, at, staff, field, old_value, new_value)"
                " VALUES ({}, {}, {}, {}, {}, {})",
                row["id"],
                now,
                actor.id,
                change.field,
                change.old,
                change.new,
            )
        fields = timeline.Label("member_field", tuple(c.field for c in result))
        summary = timeline.message(N_("Details changed: %(fields)s"), fields=fields)
        await timeline.record_event(row["id"], timeline.EDITED, summary, actor, ref="details")
        await audit.record(actor, MEMBER_EDIT, member_id=row["id"], detail=",".join(c.field for c in result))
    return result


@dataclass(frozen=True)
class HistoryRow:
    """One line of the edit history, ready to show."""

    at: datetime
    staff: str | None
    field: str
    label: str
    old: str
    new: str


def _shown_value(name: str, value: str, pharmacists: dict[int, str]) -> str:
    if name in ENCRYPTED_FIELDS:
        return {"added": _("added"), "changed": _("changed"), "removed": _("removed")}.get(value, "")
    if not value:
        return "—"
    if name == "member_class":
        return member_class_label(value)
    if name == "gender":
        return gender_label(value)
    if name == "responsible_pharmacist" and value.isdigit():
        return pharmacists.get(int(value), value)
    return value


async def change_history(member_no: str, limit: int = 100) -> list[HistoryRow]:
    """Who changed which field when, newest first (encrypted fields say that they changed, never the values)."""
    mid = await member_id(member_no)
    rows = await fetch(
        "SELECT c.at, c.field, c.old_value, c.new_value, s.display_name AS staff FROM member_change c"
        f" LEFT JOIN staff s ON s.id = c.staff WHERE c.member = {{}} ORDER BY c.at DESC, c.id DESC LIMIT {int(limit)}",
        mid,
    )
    staff_ids = {
        int(v)
        for r in rows
        if r["field"] == "responsible_pharmacist"
        for v in (r["old_value"], r["new_value"])
        if v and v.isdigit()
    }
    names: dict[int, str] = {}
    for staff_id in staff_ids:
        found = await fetch("SELECT display_name FROM staff WHERE id = {}", staff_id)
        if found:
            names[staff_id] = found[0]["display_name"]
    return [
        HistoryRow(
            at=_as_datetime(r["at"]),
            staff=r["staff"],
            field=r["field"],
            label=field_label(r["field"]),
            old="" if r["field"] in ENCRYPTED_FIELDS else _shown_value(r["field"], r["old_value"], names),
            new=_shown_value(r["field"], r["new_value"], names),
        )
        for r in rows
    ]


async def confirm_details(member_no: str, actor: StaffUser) -> None:
    """The member confirmed their details today: verified now by `actor`, no longer due."""
    mid = await member_id(member_no)
    now = datetime.now(UTC)
    async with transaction():
        await fetch(
            "UPDATE member SET verified_at = {}, verified_by = {}, verification_due = {}, updated_at = {}"
            " WHERE id = {}",
            now,
            actor.id,
            False,
            now,
            mid,
        )
        await timeline.record_event(
            mid, timeline.VERIFIED, timeline.message(N_("Details confirmed with the member")), actor
        )
        await audit.record(actor, MEMBER_VERIFY, member_id=mid)


# ---------------------------------------------------------------- the member card

QR_ERROR = "m"


@dataclass(frozen=True)
class MemberCard:
    """What the printed card shows (no health data, so reading it is not audited)."""

    member_no: str
    name: str
    store: str | None
    member_class: str

    @property
    def member_class_label(self) -> str:
        return member_class_label(self.member_class)


async def member_card(member_no: str) -> MemberCard:
    """The card of a member, or NotFound."""
    rows = await fetch(
        "SELECT m.member_no, m.name, m.member_class, st.name AS store FROM member m"
        " LEFT JOIN store st ON st.id = m.home_store WHERE m.member_no = {}",
        member_no,
    )
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    r = rows[0]
    return MemberCard(r["member_no"], r["name"], r["store"], r["member_class"] or "member")


def barcode_svg(member_no: str, module_width: float = 0.3, quiet_zone: float = 3.0) -> str:
    """The member number (or any other number we print, e.g. a sale's on its receipt) as a Code 128 barcode, an
    inline <svg> in millimetres (prints at its true size; a 58 mm receipt needs narrower bars)."""
    buffer = io.BytesIO()
    barcode.get("code128", member_no, writer=SVGWriter()).write(
        buffer,
        options={
            "module_width": module_width,
            "module_height": 12.0,
            "quiet_zone": quiet_zone,
            "font_size": 9,
            "text_distance": 4,
        },
    )
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


def qr_svg(member_no: str) -> str:
    """The member number as a QR code (a full QR, not Micro QR, so phone scanners read it), an inline <svg>."""
    return segno.make_qr(member_no, error=QR_ERROR).svg_inline(scale=1, border=4, omitsize=True)


# ---------------------------------------------------------------- registration steps 2 and 3

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


timeline.register_labeller("member_class", member_class_label)
timeline.register_labeller("member_field", field_label)
