"""Staff roles and which surfaces each may use."""

from __future__ import annotations

from enum import StrEnum

from app.i18n import _


class Role(StrEnum):
    """A staff role; store roles belong to one store, HQ roles to none."""

    PHARMACIST = "pharmacist"
    CLERK = "clerk"
    SERVICE = "service"
    STORE_MANAGER = "store_manager"
    HQ_ADMIN = "hq_admin"
    HQ_ANALYST = "hq_analyst"


STORE_ROLES = frozenset({Role.PHARMACIST, Role.CLERK, Role.SERVICE, Role.STORE_MANAGER})
HQ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_ANALYST})
ALL_ROLES = STORE_ROLES | HQ_ROLES

# Who stands at a counter and may look members up (allergies included: the clerk sells too).
COUNTER_ROLES = STORE_ROLES
# Who may register members and record allergies.
MEMBER_WRITE_ROLES = frozenset({Role.PHARMACIST, Role.CLERK, Role.SERVICE, Role.STORE_MANAGER, Role.HQ_ADMIN})
# Who may read a member's record through the API.
MEMBER_READ_ROLES = MEMBER_WRITE_ROLES
MANAGER_ROLES = frozenset({Role.STORE_MANAGER, Role.HQ_ADMIN, Role.HQ_ANALYST})
AUDIT_ROLES = frozenset({Role.HQ_ADMIN})
# Who may sell at the counter (customer service answers questions and registers members, but does not sell).
SALE_ROLES = frozenset({Role.PHARMACIST, Role.CLERK, Role.STORE_MANAGER})
# Who may give a line discount, verify a prescription or override an allergy block with their own login or PIN.
PHARMACIST_ROLES = frozenset({Role.PHARMACIST, Role.STORE_MANAGER})
DISCOUNT_ROLES = PHARMACIST_ROLES
# Who may refund a sale.
RETURN_ROLES = frozenset({Role.PHARMACIST, Role.STORE_MANAGER})
# Who may sell beyond recorded stock (with their PIN) and receive or quarantine stock.
STOCK_ROLES = frozenset({Role.STORE_MANAGER, Role.HQ_ADMIN})
# Who edits the chain's catalog, loyalty rules and coupon templates; analysts may read them.
CATALOG_WRITE_ROLES = frozenset({Role.HQ_ADMIN})
CATALOG_READ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_ANALYST, Role.STORE_MANAGER})
# Who may issue a coupon of an HQ template to a member (a store manager to their own store's members only).
COUPON_ISSUE_ROLES = frozenset({Role.HQ_ADMIN, Role.STORE_MANAGER})
# Who builds and switches care journeys (chain-wide); managers and analysts read their numbers.
JOURNEY_WRITE_ROLES = frozenset({Role.HQ_ADMIN})
JOURNEY_READ_ROLES = MANAGER_ROLES
# Who may look at the job queue itself (SAQ's monitor).
QUEUE_MONITOR_ROLES = frozenset({Role.HQ_ADMIN})


def role_label(role: str) -> str:
    """A role's name in the current language."""
    return {
        Role.PHARMACIST: _("Pharmacist"),
        Role.CLERK: _("Clerk"),
        Role.SERVICE: _("Customer service"),
        Role.STORE_MANAGER: _("Store manager"),
        Role.HQ_ADMIN: _("HQ administrator"),
        Role.HQ_ANALYST: _("HQ analyst"),
    }.get(role, role)


def home_path(role: str) -> str:
    """Where a role lands after login."""
    return "/counter" if role in COUNTER_ROLES and role != Role.STORE_MANAGER else "/manager"
