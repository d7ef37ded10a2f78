"""Members: numbers with a check digit, registration, lookup by card or phone, the allergy record."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from app.components import audit
from app.components.allergens import (
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
from app.components.auth import StaffUser
from app.components.crypto import blind_index, decrypt, encrypt
from app.components.errors import NotFound, ValidationFailed
from app.db import fetch, transaction
from app.i18n import _
from app.settings import get_settings

MEMBER_NO_PREFIX = "8"
MEMBER_NO_LENGTH = 10
ALLERGY_STATUSES = ("unknown", "none", "has_allergies")
GENDERS = ("M", "F", "U")


# ---------------------------------------------------------------- numbers and codes


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def member_no_for(serial: int) -> str:
    """The member number for a serial: prefix 8, eight digits, one Luhn check digit."""
    body = f"{MEMBER_NO_PREFIX}{serial:0{MEMBER_NO_LENGTH - 2}d}"
    return body + luhn_digit(body)


def is_member_no(code: str) -> bool:
    """True when `code` has the member-number shape and a correct check digit."""
    return (
        len(code) == MEMBER_NO_LENGTH
        and code.isdigit()
        and code.startswith(MEMBER_NO_PREFIX)
        and luhn_digit(code[:-1]) == code[-1]
    )


def normalize_phone(raw: str) -> str | None:
    """A valid mainland mobile number as 11 digits, or None."""
    cleaned = re.sub(r"[\s\-()]", "", raw or "")
    if not cleaned:
        return None
    try:
        parsed = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return str(parsed.national_number)


def mask_phone(phone: str | None) -> str:
    """138****1234: stored beside the ciphertext so lists never need to decrypt."""
    return f"{phone[:3]}****{phone[-4:]}" if phone else ""


def phone_index(phone: str) -> str:
    """Blind index of a normalised phone number."""
    return blind_index(phone, "phone")


async def next_serials(name: str, count: int = 1) -> int:
    """Reserve `count` numbers from a named sequence; return the first. Call inside a transaction."""
    rows = await fetch("UPDATE number_sequence SET value = value + {} WHERE name = {} RETURNING value", count, name)
    return rows[0]["value"] - count + 1


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

    @property
    def high_risk(self) -> bool:
        return any(a.criticality == "high" for a in self.allergies)

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


def age_on(birth: date | None, today: date) -> int | None:
    """Whole years between `birth` and `today`."""
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def store_today() -> date:
    """Today's date in the chain's time zone."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


_MEMBER_SQL = (
    "SELECT m.id, m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.allergy_status,"
    " m.allergy_status_at, m.verified_at, m.created_at, st.name AS home_store, sb.display_name AS status_by,"
    " a.id AS a_id, a.allergen_class, a.substance, a.criticality, a.reaction, a.verification_status,"
    " a.recorded_at, rb.display_name AS a_by"
    " FROM member m"
    " LEFT JOIN store st ON st.id = m.home_store"
    " LEFT JOIN staff sb ON sb.id = m.allergy_status_by"
    " LEFT JOIN allergy a ON a.member = m.id AND a.clinical_status = 'active'"
    " AND a.verification_status NOT IN ('refuted', 'entered-in-error')"
    " LEFT JOIN staff rb ON rb.id = a.recorded_by"
)


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
    else:
        phone = normalize_phone(code)
        if phone is None:
            return []
        rows = await fetch(_MEMBER_SQL + " WHERE m.phone_index = {} ORDER BY m.id, a.id", phone_index(phone))
    return await _audited(_views(rows), actor, detail=f"lookup:{actor.channel}")


async def get_member(member_no: str, actor: StaffUser, detail: str = "read") -> MemberView:
    """One member by number, audited; NotFound says which number."""
    rows = await fetch(_MEMBER_SQL + " WHERE m.member_no = {} ORDER BY a.id", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return (await _audited(_views(rows), actor, detail=detail))[0]


async def member_id(member_no: str) -> int:
    """The row id of a member number, or NotFound."""
    rows = await fetch("SELECT id FROM member WHERE member_no = {}", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return rows[0]["id"]


# ---------------------------------------------------------------- registration


@dataclass
class NewMember:
    """What registration accepts (the foundation's minimal profile)."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: str = ""
    store_code: str = ""


def validate_new_member(data: NewMember) -> tuple[dict[str, str], dict]:
    """Field errors and the cleaned values."""
    errors: dict[str, str] = {}
    clean: dict = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = _("Enter the member's name.")
    elif len(name) > 60:
        errors["name"] = _("The name is too long (60 characters at most).")
    clean["name"] = name
    gender = (data.gender or "U").upper()
    if gender not in GENDERS:
        errors["gender"] = _("Choose male, female or not stated.")
    clean["gender"] = gender
    clean["birth_date"] = None
    if data.birth_date:
        try:
            birth = date.fromisoformat(data.birth_date.strip())
        except ValueError:
            errors["birth_date"] = _("Enter the birth date as YYYY-MM-DD.")
        else:
            today = store_today()
            if birth > today:
                errors["birth_date"] = _("The birth date cannot be in the future.")
            elif (age_on(birth, today) or 0) > 120:
                errors["birth_date"] = _("The birth date is more than 120 years ago.")
            clean["birth_date"] = birth
    clean["phone"] = None
    if data.phone and data.phone.strip():
        phone = normalize_phone(data.phone)
        if phone is None:
            errors["phone"] = _("Enter a valid mainland China mobile number (11 digits, starting with 1).")
        clean["phone"] = phone
    return errors, clean


async def _store_id(code: str) -> int | None:
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    return rows[0]["id"] if rows else None


async def register(data: NewMember, actor: StaffUser) -> MemberView:
    """Create a member at the actor's store (HQ names a store); returns the new member's view."""
    errors, clean = validate_new_member(data)
    store_id = actor.store_id
    if data.store_code:
        store_id = await _store_id(data.store_code)
        if store_id is None:
            errors["store"] = _("No store with code %(code)s.") % {"code": data.store_code}
    elif store_id is None:
        errors["store"] = _("Name the member's home store.")
    if errors:
        raise ValidationFailed(errors)
    phone = clean["phone"]
    now = datetime.now(UTC)
    async with transaction():
        serial = await next_serials("member")
        member_no = member_no_for(serial)
        rows = await fetch(
            "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked,"
            " home_store, allergy_status, created_at, updated_at, verified_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'unknown', {}, {}, {}) RETURNING id",
            member_no,
            clean["name"],
            clean["gender"],
            clean["birth_date"],
            encrypt(phone, "phone") if phone else None,
            phone_index(phone) if phone else None,
            mask_phone(phone),
            store_id,
            now,
            now,
            now,
        )
        await audit.record(actor, audit.MEMBER_CREATE, member_id=rows[0]["id"])
    return await get_member(member_no, actor, detail="after-create")


async def reveal_phone(member_no: str, actor: StaffUser) -> str | None:
    """The member's phone in clear (own edit form only), audited."""
    rows = await fetch("SELECT id, phone_enc FROM member WHERE member_no = {}", member_no)
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    await audit.record(actor, "member.phone_reveal", member_id=rows[0]["id"])
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
    where, args = ("WHERE home_store = {}", [store_id]) if store_id else ("", [])
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
