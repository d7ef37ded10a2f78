"""Households: family members linked together, one adult contact, children managed by a guardian."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app.components import audit, timeline
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.members.queries import household as queries
from app.db import transaction
from app.i18n import N_, _

CONTACT = "contact"
ADULT = "adult"
CHILD = "child"
ROLES = (CONTACT, ADULT, CHILD)
ADULT_ROLES = (CONTACT, ADULT)
ADULT_AGE = 18
HOUSEHOLD_CHANGE = "household.change"
HOUSEHOLD_VIEW = "household.view"


def role_label(role: str) -> str:
    """A household role in the current language."""
    return {CONTACT: _("contact"), ADULT: _("adult"), CHILD: _("child")}.get(role, role)


@dataclass
class HouseholdMember:
    """One person of a household as the profile lists them."""

    member_id: int
    member_no: str
    name: str
    role: str
    age: int | None
    guardian_id: int | None = None
    guardian_no: str = ""
    guardian_name: str = ""

    @property
    def role_label(self) -> str:
        return role_label(self.role)

    @property
    def is_adult(self) -> bool:
        return self.role in ADULT_ROLES


@dataclass
class HouseholdView:
    """A household and its members: the contact first, then adults, then children."""

    id: int
    name: str
    contact_id: int | None
    members: list[HouseholdMember] = field(default_factory=list)

    @property
    def adults(self) -> list[HouseholdMember]:
        return [m for m in self.members if m.is_adult]

    @property
    def children(self) -> list[HouseholdMember]:
        return [m for m in self.members if m.role == CHILD]


async def _member(member_no: str, field_name: str | None = None) -> dict:
    """A live (not merged) member by number; NotFound, or a field error when the number was typed in a form."""
    member_no = (member_no or "").strip()
    row = await queries.live_member_by_no(member_no)
    if row is not None:
        return row
    message = _("No member with number %(no)s.") % {"no": member_no or "—"}
    if field_name:
        raise ValidationFailed({field_name: message})
    raise NotFound(message)


def _age(row: dict) -> int | None:
    birth = row["birth_date"]
    if birth is not None and not isinstance(birth, date):
        birth = date.fromisoformat(str(birth)[:10])
    return age_on(birth, store_today())


def _is_minor(row: dict) -> bool:
    age = _age(row)
    return age is not None and age < ADULT_AGE


async def household_view(household_id: int) -> HouseholdView | None:
    """A household with its live members."""
    row = await queries.household(household_id)
    if row is None:
        return None
    view = HouseholdView(id=row["id"], name=row["name"], contact_id=row["contact"])
    people = await queries.people(household_id)
    order = {CONTACT: 0, ADULT: 1, CHILD: 2}
    view.members = sorted(
        (
            HouseholdMember(
                member_id=p["id"],
                member_no=p["member_no"],
                name=p["name"],
                role=p["household_role"],
                age=_age(p),
                guardian_id=p["guardian"],
                guardian_no=p["g_no"] or "",
                guardian_name=p["g_name"] or "",
            )
            for p in people
        ),
        key=lambda m: (order.get(m.role, 3), m.member_id),
    )
    return view


async def household_for(member_no: str, actor: StaffUser) -> tuple[dict, HouseholdView | None]:
    """The member (id, number, name, role …) and their household, if any; the view is audited."""
    row = await _member(member_no)
    await audit.record(actor, HOUSEHOLD_VIEW, member_id=row["id"])
    return row, (await household_view(row["household"]) if row["household"] else None)


async def _event(member_id: int, summary: str, actor: StaffUser, household_id: int) -> None:
    await timeline.record_event(member_id, timeline.HOUSEHOLD, summary, actor, ref=f"household:{household_id}")
    await audit.record(actor, HOUSEHOLD_CHANGE, member_id=member_id, detail=timeline.render(summary))


async def _new_household(contact: dict, actor: StaffUser, name: str = "") -> int:
    """Make `contact` the contact of a new household (inside the caller's transaction)."""
    if _is_minor(contact):
        raise ValidationFailed({"other_no": _("A child cannot be a household's contact.")})
    hid = await queries.insert_household(
        (name or "").strip()[:60] or _("%(name)s's household") % {"name": contact["name"]},
        contact["id"],
        datetime.now(UTC),
    )
    if not await queries.claim(contact["id"], hid, CONTACT, None):
        raise ValidationFailed({"other_no": _("%(name)s already belongs to a household.") % {"name": contact["name"]}})
    await _event(contact["id"], timeline.message(N_("Created a household and became its contact")), actor, hid)
    return hid


async def create_household(member_no: str, actor: StaffUser, name: str = "") -> HouseholdView:
    """A new household with this member as its contact."""
    row = await _member(member_no)
    if row["household"]:
        raise ValidationFailed({"household": _("%(name)s already belongs to a household.") % {"name": row["name"]}})
    async with transaction():
        hid = await _new_household(row, actor, name)
    return await household_view(hid)  # type: ignore[return-value]


async def link(member_no: str, household_of: str, role: str, actor: StaffUser, guardian_no: str = "") -> HouseholdView:
    """Put `member_no` into the household of member `household_of` as contact, adult or child.

    When that member has no household yet, one is created with them as its contact. A child needs a guardian, an
    adult of the household (by default `household_of` when an adult, else the contact).
    """
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = _("Choose contact, adult or child.")
    if not (household_of or "").strip():
        errors["other_no"] = _("Enter the other member's number.")
    if errors:
        raise ValidationFailed(errors)
    person = await _member(member_no, "other_no")
    anchor = await _member(household_of, "other_no")
    if person["id"] == anchor["id"]:
        raise ValidationFailed({"other_no": _("A member cannot be linked to themselves.")})
    if person["household"]:
        raise ValidationFailed(
            {"other_no": _("%(name)s already belongs to a household: unlink them first.") % {"name": person["name"]}}
        )
    if role in ADULT_ROLES and _is_minor(person):
        raise ValidationFailed({"role": _("%(name)s is under 18: link them as a child.") % {"name": person["name"]}})
    async with transaction():
        hid = anchor["household"] or await _new_household(anchor, actor)
        guardian_id = None
        if role == CHILD:
            guardian_id = await _guardian_for(hid, guardian_no, anchor)
        if not await queries.claim(person["id"], hid, ADULT if role == CONTACT else role, guardian_id):
            raise ValidationFailed(
                {"other_no": _("%(name)s already belongs to a household.") % {"name": person["name"]}}
            )
        await _event(
            person["id"],
            timeline.message(
                N_("Joined the household of %(name)s as %(role)s"),
                name=anchor["name"],
                role=timeline.Label("household_role", role),
            ),
            actor,
            hid,
        )
        if role == CONTACT:
            await _make_contact(hid, person, actor)
    return await household_view(hid)  # type: ignore[return-value]


async def add_or_join(
    member_no: str, other_no: str, role: str, actor: StaffUser, guardian_no: str = ""
) -> HouseholdView:
    """From a member's profile: when they have a household, `other_no` joins it as `role`; else they join the
    household of `other_no` (one is created around that member when needed)."""
    row = await _member(member_no)
    if row["household"]:
        return await link(other_no, member_no, role, actor, guardian_no=guardian_no)
    return await link(member_no, other_no, role, actor, guardian_no=guardian_no)


async def _guardian_for(household_id: int, guardian_no: str, anchor: dict) -> int:
    """The guardian's member id: the one named, else the anchor when an adult of the household, else the contact."""
    if (guardian_no or "").strip():
        guardian = await _member(guardian_no, "guardian_no")
    else:
        guardian = await queries.member_by_id(anchor["id"])
        if guardian["household"] != household_id or guardian["household_role"] not in ADULT_ROLES:
            guardian = await queries.contact_of(household_id)
    if guardian["household"] != household_id or guardian["household_role"] not in ADULT_ROLES:
        raise ValidationFailed(
            {"guardian_no": _("%(name)s is not an adult of this household.") % {"name": guardian["name"]}}
        )
    return guardian["id"]


async def _make_contact(household_id: int, person: dict, actor: StaffUser) -> None:
    await queries.set_contact(household_id, person["id"], CONTACT, ADULT)
    await _event(person["id"], timeline.message(N_("Became the household's contact")), actor, household_id)


async def _in_household(member_no: str, household_id: int, field_name: str) -> dict:
    row = await _member(member_no, field_name)
    if row["household"] != household_id:
        raise ValidationFailed({field_name: _("%(name)s is not in this household.") % {"name": row["name"]}})
    return row


async def make_contact(member_no: str, household_of: str, actor: StaffUser) -> HouseholdView:
    """Make `member_no`, an adult of the household of `household_of`, its contact (the old contact stays an adult)."""
    anchor = await _member(household_of)
    if not anchor["household"]:
        raise ValidationFailed({"household": _("%(name)s has no household.") % {"name": anchor["name"]}})
    hid = anchor["household"]
    person = await _in_household(member_no, hid, "target_no")
    if person["household_role"] == CHILD or _is_minor(person):
        raise ValidationFailed({"target_no": _("A child cannot be a household's contact.")})
    if person["household_role"] != CONTACT:
        async with transaction():
            await _make_contact(hid, person, actor)
    return await household_view(hid)  # type: ignore[return-value]


async def set_guardian(child_no: str, guardian_no: str, household_of: str, actor: StaffUser) -> HouseholdView:
    """Give a child of the household another guardian (an adult of the same household)."""
    anchor = await _member(household_of)
    if not anchor["household"]:
        raise ValidationFailed({"household": _("%(name)s has no household.") % {"name": anchor["name"]}})
    hid = anchor["household"]
    child = await _in_household(child_no, hid, "target_no")
    if child["household_role"] != CHILD:
        raise ValidationFailed({"target_no": _("Only a child has a guardian.")})
    guardian = await _in_household(guardian_no, hid, "guardian_no")
    if guardian["household_role"] not in ADULT_ROLES:
        raise ValidationFailed(
            {"guardian_no": _("%(name)s is not an adult of this household.") % {"name": guardian["name"]}}
        )
    if child["guardian"] != guardian["id"]:
        async with transaction():
            await queries.set_guardian(child["id"], guardian["id"])
            await _event(
                child["id"], timeline.message(N_("Guardian is now %(name)s"), name=guardian["name"]), actor, hid
            )
    return await household_view(hid)  # type: ignore[return-value]


async def unlink(member_no: str, household_of: str, actor: StaffUser) -> HouseholdView | None:
    """Take `member_no` out of the household of `household_of`; returns what is left of it (None once empty).

    A guardian leaves only after their children have another guardian; the contact only when no other adult is
    left to take over (make another adult the contact first).
    """
    anchor = await _member(household_of)
    if not anchor["household"]:
        raise ValidationFailed({"household": _("%(name)s has no household.") % {"name": anchor["name"]}})
    hid = anchor["household"]
    person = await _in_household(member_no, hid, "target_no")
    wards = await queries.ward_names(person["id"], hid)
    if wards:
        raise ValidationFailed(
            {
                "target_no": _("%(name)s is the guardian of %(children)s: give them another guardian first.")
                % {"name": person["name"], "children": "、".join(wards)}
            }
        )
    others = await queries.others_count(hid, person["id"])
    if person["household_role"] == CONTACT and others:
        raise ValidationFailed(
            {
                "target_no": _("%(name)s is the household's contact: make another adult the contact first.")
                % {"name": person["name"]}
            }
        )
    async with transaction():
        await queries.leave(person["id"])
        await _event(person["id"], timeline.message(N_("Left the household")), actor, hid)
        if not others:
            await queries.delete_household(hid)
            return None
    return await household_view(hid)


async def kiosk_visible_members(viewer_member_id: int) -> list[int]:
    """Whose health data a member signed in at the kiosk may see: themselves and the children they are guardian of.

    Never another adult of the household, not even the household's contact: adults' health data is for staff only.
    """
    ids = await queries.kiosk_visible(viewer_member_id, CHILD)
    return [viewer_member_id, *[i for i in ids if i != viewer_member_id]] if ids else []


timeline.register_labeller("household_role", role_label)
