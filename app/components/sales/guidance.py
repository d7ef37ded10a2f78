"""The medication guidance slip of a sale, personalised: each medicine's counselling points, the member's allergies
that concern it and any allergy override with its reason beside the contraindication it contradicts, the
pharmacist's name and the store's phone.

Reading the member's allergies for the slip is a health-data view: it is audited (`members.get_member`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.components import catalog, members
from app.components.allergies import class_label
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound
from app.components.core.roles import PHARMACIST_ROLES
from app.components.sales.search import get_sale
from app.components.sales.views import SaleLineView, SaleView
from app.i18n import _, pick


@dataclass(frozen=True)
class SlipAllergy:
    """One of the member's recorded allergies as the slip prints it."""

    allergen_class: str
    label: str
    criticality: str
    criticality_label: str
    reaction_label: str

    @property
    def text(self) -> str:
        """The allergy with its risk and reaction, e.g. "Penicillins amoxicillin (high risk, anaphylaxis)"."""
        details = ", ".join(x for x in (self.criticality_label, self.reaction_label) if x)
        return f"{self.label} ({details})" if details else self.label


@dataclass(frozen=True)
class SlipNote:
    """What the slip says beside a medicine's contraindications about one of the member's allergies.

    kind: "override" (a high alert a pharmacist overrode, with the reason) | "caution" (a possible reaction)."""

    kind: str
    allergy: SlipAllergy
    text: str


@dataclass(frozen=True)
class SlipItem:
    """One medicine of the slip; `generic` is "" when the product's name already says it."""

    line: SaleLineView
    product: Any  # catalog.ProductView
    card: Any  # catalog.KnowledgeCard
    generic: str
    notes: list[SlipNote] = field(default_factory=list)


@dataclass(frozen=True)
class GuidanceSlip:
    """The whole slip. `allergies` is None for a walk-in sale (nobody's allergies are known)."""

    sale: SaleView
    items: list[SlipItem]
    allergies: list[SlipAllergy] | None
    allergy_status: str | None
    pharmacist_name: str | None


def generic_once(name: str, generic: str) -> str:
    """The generic name to print after the product's name: "" when the name already contains it."""
    text = (generic or "").strip()
    return "" if not text or text.casefold() in (name or "").casefold() else text


def pharmacist_of(sale: SaleView, actor: StaffUser) -> str | None:
    """The pharmacist the slip names: who overrode an allergy alert or verified the prescription, else the seller
    when a pharmacist, else the pharmacist printing it; None when no pharmacist took part."""
    if sale.override_by_name:
        return sale.override_by_name
    if sale.rx_verified_by_name:
        return sale.rx_verified_by_name
    if sale.staff_role in PHARMACIST_ROLES:
        return sale.staff_name
    return actor.display_name if actor.role in PHARMACIST_ROLES else None


def _override_of(sale: SaleView, line_no: int, recorded: str) -> tuple[str, str | None] | None:
    """The reason and approver of the override recorded for this line and allergy (the sale's single override
    reason for sales recorded before per-alert approvals); None when the alert was not overridden."""
    for approval in sale.approvals:
        if approval.kind == "allergy_override" and approval.line_no == line_no and approval.allergen_class == recorded:
            return approval.reason, approval.by_name
    if sale.override_reason and not any(a.kind == "allergy_override" for a in sale.approvals):
        return sale.override_reason, sale.override_by_name
    return None


def _notes(line: SaleLineView, allergies: dict[str, SlipAllergy], sale: SaleView, pharmacist: str | None) -> list:
    """The notes for one line, from the allergy alerts shown for it at the sale (one per recorded class).

    An alert a pharmacist overrode prints the override and its reason; any other alert whose reference pair says a
    reaction is possible (same class or substance, a shared side chain, a possible cross-sensitivity), whatever the
    counter had to do about it, prints the warning."""
    notes: list[SlipNote] = []
    seen: set[str] = set()
    for alert in line.alerts:
        recorded = alert.get("recorded_class") or ""
        if alert.get("kind") != "allergy" or not recorded or recorded in seen:
            continue
        level = alert.get("level")
        allergy = allergies.get(recorded) or SlipAllergy(recorded, class_label(recorded), "", "", "")
        override = _override_of(sale, line.line_no, recorded) if level == "high" else None
        if override is not None:
            reason, by_name = override
            seen.add(recorded)
            notes.append(
                SlipNote(
                    "override",
                    allergy,
                    _(
                        "You have a recorded allergy to %(allergy)s. Your pharmacist %(who)s checked it and approved "
                        "this medicine for you: %(reason)s"
                    )
                    % {"allergy": allergy.text, "who": by_name or pharmacist or "—", "reason": reason},
                )
            )
        elif (alert.get("pair_level") or level) in ("high", "caution"):
            seen.add(recorded)
            notes.append(
                SlipNote(
                    "caution",
                    allergy,
                    _(
                        "You have a recorded allergy to %(allergy)s: a reaction to this medicine is possible. Stop "
                        "taking it and get help at once if you get a rash, swelling or difficulty breathing."
                    )
                    % {"allergy": allergy.text},
                )
            )
    return notes


async def guidance_slip(sale_no: str, actor: StaffUser) -> GuidanceSlip:
    """The slip of a sale of the actor's store (NotFound otherwise); reading the member's allergies is audited."""
    sale = await get_sale(sale_no, actor)
    products = await catalog.products_by_ids(line.product_id for line in sale.lines)
    allergies: list[SlipAllergy] | None = None
    status: str | None = None
    if sale.member_no:
        try:
            member = await members.get_member(sale.member_no, actor=actor, detail=f"guidance:{sale.sale_no}")
        except NotFound:  # merged away since: the survivor's record is not this slip's to print
            member = None
        if member is not None:
            status = member.allergy_status
            allergies = [
                SlipAllergy(
                    a.allergen_class,
                    f"{a.label} {a.substance_label}" if a.substance else a.label,
                    a.criticality,
                    a.criticality_label,
                    a.reaction_label,
                )
                for a in member.allergies
            ]
    by_class = {a.allergen_class: a for a in allergies or []}
    pharmacist = pharmacist_of(sale, actor)
    items = []
    for line in sale.lines:
        product = products.get(line.product_id)
        if product is None:
            continue
        generic = pick(product.generic_zh or product.generic_en, product.generic_en or product.generic_zh)
        items.append(
            SlipItem(
                line=line,
                product=product,
                card=catalog.knowledge_card(product),
                generic=generic_once(product.name, generic),
                notes=_notes(line, by_class, sale, pharmacist),
            )
        )
    return GuidanceSlip(sale, items, allergies, status, pharmacist)
