"""The member's allergy status at the counter: recording through the allergies domain, and the status counts.

The rules (coding, consent, "no known allergies" only without active ones) and their SQL live in
`app.components.allergies`; these take a member number, as the routes do, and return the refreshed view.
"""

from __future__ import annotations

from app.components import allergies
from app.components.core.actor import StaffUser
from app.components.members.fields import ALLERGY_STATUSES
from app.components.members.lookup import MemberView, get_member, member_id
from app.components.members.queries import member as queries


async def add_allergy(member_no: str, data: allergies.NewAllergy, actor: StaffUser) -> MemberView:
    """Record a coded allergy; the member's status becomes `has_allergies`."""
    await allergies.record_allergy(await member_id(member_no), data, actor)
    return await get_member(member_no, actor, detail="after-allergy")


async def record_no_known_allergies(member_no: str, actor: StaffUser) -> MemberView:
    """The member says they have no known allergies: recorded with who and when."""
    await allergies.record_no_known_allergies(await member_id(member_no), actor)
    return await get_member(member_no, actor, detail="after-allergy")


async def allergy_status_counts(store_id: int | None) -> dict[str, int]:
    """How many members are in each allergy status, for one store or (None) the whole chain."""
    counts = dict.fromkeys(ALLERGY_STATUSES, 0)
    counts.update({r["allergy_status"]: r["n"] for r in await queries.allergy_status_counts(store_id)})
    return counts
