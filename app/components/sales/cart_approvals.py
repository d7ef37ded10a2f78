"""What a pharmacist or manager approves on the cart, each kept with who and when: the prescription and its check,
the allergy override (for the alerts they saw), acknowledged warnings, selling beyond stock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.sales.cart import (
    CartView,
    current,
    loads,
    mutate,
    need_line,
    now_text,
    product_ids,
    to_sale_request,
)
from app.components.sales.queries import cart as cart_sql
from app.components.sales.quote import quote
from app.i18n import _


async def set_prescription(actor: StaffUser, number: str, hospital: str, image: str | None = None) -> CartView:
    """The prescription reference for the Rx lines; a new reference needs a new verification."""
    errors = prescription_errors(number, hospital)
    if errors:
        raise ValidationFailed(errors)
    number, hospital = number.strip(), hospital.strip()

    def change(cart: CartView) -> CartView:
        rx = cart.prescription
        if image is None and (rx.get("number"), rx.get("hospital")) == (number, hospital):
            return cart  # the same reference again: its check stands
        kept = image if image is not None else rx.get("image", "")
        return replace(cart, prescription={"number": number, "hospital": hospital, "image": kept})

    return await mutate(actor, change)


def prescription_errors(number: str, hospital: str) -> dict[str, str]:
    """What is wrong with a typed prescription reference (empty when nothing)."""
    number, hospital = number.strip(), hospital.strip()
    errors = {}
    if not number:
        errors["rx_number"] = _("Enter the prescription number.")
    elif len(number) > 40:
        errors["rx_number"] = _("At most %(n)s characters.") % {"n": 40}
    if not hospital:
        errors["rx_hospital"] = _("Enter the issuing hospital.")
    elif len(hospital) > 100:
        errors["rx_hospital"] = _("At most %(n)s characters.") % {"n": 100}
    return errors


def _verified(cart: CartView, pharmacist_id: int, pharmacist_name: str) -> CartView:
    if not cart.prescription.get("number"):
        raise ValidationFailed({"rx_number": _("Enter the prescription before it is verified.")})
    verified = {
        "verified_by": pharmacist_id,
        "verified_by_name": pharmacist_name,
        "verified_at": now_text(),
        "products": product_ids(cart),
    }
    return replace(cart, prescription={**cart.prescription, **verified})


def _overridden(
    cart: CartView, reason: str, by_staff_id: int, by_name: str, covers: Sequence[tuple[int, str]]
) -> CartView:
    override = {
        "reason": reason,
        "by": by_staff_id,
        "by_name": by_name,
        "at": now_text(),
        "products": product_ids(cart),
        "covers": [[product_id, allergen_class] for product_id, allergen_class in covers],
    }
    return replace(cart, override={**_kept(cart), **override})


async def _high_alerts(actor: StaffUser) -> list[tuple[int, str]]:
    """The high allergy alerts of the open cart as an approver sees them now, without any override given before
    (product id, recorded allergen class): what a new override answers, and nothing that comes up after it."""

    cart = await current(actor)
    if cart.is_empty:
        return []
    quoted = await quote(to_sale_request(replace(cart, override=_kept(cart))), actor)
    return [(c["product_id"], c["recorded_class"] or "") for c in quoted.conflicts]


def override_reason_errors(reason: str) -> dict[str, str]:
    """What is wrong with an override's reason (empty when nothing)."""
    reason = (reason or "").strip()
    if not reason:
        return {"reason": _("Say why the sale may go ahead despite the allergy.")}
    if len(reason) > 500:
        return {"reason": _("At most %(n)s characters.") % {"n": 500}}
    return {}


def _seen(cart: CartView, products: Sequence[int] | None) -> None:
    """An approval is for the cart the approver saw: refused when a line came or went meanwhile."""
    if products is not None and sorted(set(products)) != sorted(product_ids(cart)):
        raise ValidationFailed(
            {"approve": _("The cart changed while it was being approved: check it and approve again.")}
        )


async def pharmacist_pending(actor: StaffUser) -> tuple[CartView, tuple[str, ...]]:
    """The open cart and what in it waits for a pharmacist ("allergy_override", "rx_verified"), as its quote says."""

    cart = await current(actor)
    if cart.is_empty:
        return cart, ()
    return cart, (await quote(to_sale_request(cart), actor)).pharmacist_pending


async def verify_prescription(actor: StaffUser, pharmacist_id: int, pharmacist_name: str) -> CartView:
    """Record which pharmacist checked the prescription against the Rx lines (and when)."""
    return await mutate(actor, lambda cart: _verified(cart, pharmacist_id, pharmacist_name))


async def set_override(actor: StaffUser, reason: str, by_staff_id: int, by_name: str) -> CartView:
    """A pharmacist's override of the high allergy alerts, with the reason (audited when the sale is made)."""
    errors = override_reason_errors(reason)
    if errors:
        raise ValidationFailed(errors)
    covers = await _high_alerts(actor)
    return await mutate(actor, lambda cart: _overridden(cart, reason.strip(), by_staff_id, by_name, covers))


async def approve(
    actor: StaffUser,
    pharmacist_id: int,
    pharmacist_name: str,
    *,
    reason: str | None = None,
    verify_rx: bool = False,
    products: Sequence[int] | None = None,
) -> CartView:
    """Everything a pharmacist approves at once, each recorded on its own: the allergy override with `reason`
    (when given) and the prescription check (`verify_rx`). `products` are the cart's products as the approver saw
    them: a cart changed meanwhile is refused."""
    covers: list[tuple[int, str]] = []
    if reason is not None:
        errors = override_reason_errors(reason)
        if errors:
            raise ValidationFailed(errors)
        covers = await _high_alerts(actor)

    def change(cart: CartView) -> CartView:
        _seen(cart, products)
        if reason is not None:
            cart = _overridden(cart, reason.strip(), pharmacist_id, pharmacist_name, covers)
        if verify_rx:
            cart = _verified(cart, pharmacist_id, pharmacist_name)
        return cart

    return await mutate(actor, change)


async def acknowledge(actor: StaffUser, product_id: int, allergen_class: str) -> CartView:
    """One tap: `actor` has read the allergy warning of a line for the recorded allergen class (who and when are
    kept, and stored with the sale). A block is never cleared this way: the sale component decides what needs it."""
    allergen_class = (allergen_class or "").strip()
    if not allergen_class or len(allergen_class) > 40:
        raise ValidationFailed({"acknowledge": _("Name the allergen class of the warning.")})

    def change(cart: CartView) -> CartView:
        need_line(cart, product_id)
        acks = [
            a
            for a in cart.acknowledgements
            if (a.get("product_id"), a.get("allergen_class")) != (product_id, allergen_class)
        ]
        ack = {
            "product_id": product_id,
            "allergen_class": allergen_class,
            "by": actor.id,
            "by_name": actor.display_name,
            "at": now_text(),
        }
        return replace(cart, override={**cart.override, "acks": [*acks, ack]})

    return await mutate(actor, change)


def _kept(cart: CartView) -> dict:
    """The approvals an allergy override's change leaves alone: overselling and acknowledged warnings."""
    return {k: cart.override[k] for k in ("oversell", "acks") if k in cart.override}


async def clear_override(actor: StaffUser) -> CartView:
    """Withdraw an allergy override."""
    return await mutate(actor, lambda cart: replace(cart, override=_kept(cart)))


async def approve_oversell(actor: StaffUser, manager_id: int, manager_name: str) -> CartView:
    """A store manager allows this cart, as it is now, to sell beyond recorded stock (when the chain allows it)."""

    def change(cart: CartView) -> CartView:
        if cart.is_empty:
            raise ValidationFailed({"oversell": _("The cart is empty.")})
        approval = {"by": manager_id, "by_name": manager_name, "at": now_text()}
        return replace(cart, override={**cart.override, "oversell": approval})

    return await mutate(actor, change)


async def allergies_changed(member_id: int) -> None:
    """The member's allergies changed while a sale for them is open or held: an allergy override given before
    covered what was known then, so it is dropped and the cart is checked afresh (a manager's stock approval stays)."""
    for row in await cart_sql.overrides_of_member(member_id):
        override = loads(row["override"], {})
        if override.get("reason"):
            kept = {k: v for k, v in override.items() if k == "oversell"}
            await cart_sql.set_override(row["id"], json.dumps(kept, ensure_ascii=False), datetime.now(UTC))
