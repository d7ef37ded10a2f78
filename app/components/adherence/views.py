"""Adherence as people see it: a member's therapies (refill due, PDC) and a store's non-adherent patients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.components import audit, health
from app.components.adherence import queries
from app.components.adherence.rules import ADHERENT_PCT, MIN_FILL_DATES, WINDOW_DAYS
from app.components.core.actor import StaffUser
from app.i18n import pick

# Chronic therapy groups: the ATC prefixes a condition can be inferred from (the condition-inference rules).
CHRONIC_PREFIXES = tuple(sorted({rule.atc_prefix for rule in health.inference_rules()}))
# A refill due further back than this is a lapse, not a refill (the churn journey's concern); older fills are
# not looked at for the refill-due day.
STOCKPILE_DAYS = 365
ADHERENCE_VIEW = "adherence.view"


@dataclass(frozen=True)
class Therapy:
    """One therapy group (ATC level 4) of a member."""

    group: str
    medicine: str
    condition: str
    first_fill: date | None
    refill_due: date | None
    overdue_days: int
    pdc: int | None  # whole percent over the window; None with fewer than two fill days
    adherent: bool | None
    fill_dates: int


def _therapy(row: dict, names: dict, today: date, pdc_row: dict | None) -> Therapy:
    due = queries.as_day(row["last_e"] + 1)
    rule = health.rule_for_atc(row["grp"])
    name = names.get(row["grp"])
    pdc = adherent = None
    fills = 0
    if pdc_row is not None:
        fills = int(pdc_row["fill_dates"])
        days = (today - queries.as_day(pdc_row["first_s"])).days + 1  # type: ignore[operator]
        if fills >= MIN_FILL_DATES and days > 0:
            covered = int(pdc_row["covered"])
            pdc = covered * 100 // days
            adherent = covered * 100 >= ADHERENT_PCT * days
    return Therapy(
        group=row["grp"],
        medicine=pick(name["zh"], name["en"]) if name else row["grp"],
        condition=health.condition_label(rule.condition) if rule else "",
        first_fill=queries.as_day(row["first_s"]),
        refill_due=due,
        overdue_days=max(0, (today - due).days) if due else 0,
        pdc=pdc,
        adherent=adherent,
        fill_dates=fills,
    )


async def member_therapies(member_id: int, today: date) -> list[Therapy]:
    """The member's chronic therapies: refill-due day (from a year of fills) and PDC (the last 180 days)."""
    rows = await queries.member_groups(member_id, today - timedelta(days=STOCKPILE_DAYS), today, CHRONIC_PREFIXES)
    window = await queries.member_groups(member_id, today - timedelta(days=WINDOW_DAYS - 1), today, CHRONIC_PREFIXES)
    by_group = {r["grp"]: r for r in window}
    names = await queries.product_names(member_id, [r["grp"] for r in rows])
    return [_therapy(r, names, today, by_group.get(r["grp"])) for r in rows]


async def adherence_record(member_id: int, today: date, actor: StaffUser, detail: str = "profile") -> list[Therapy]:
    """The member's therapies for a person to read: medication history is health data, so the view is audited."""
    therapies = await member_therapies(member_id, today)
    await audit.record(actor, ADHERENCE_VIEW, member_id=member_id, detail=detail)
    return therapies


@dataclass(frozen=True)
class Patient:
    """A store's patient below 80 % PDC in one therapy group."""

    member_id: int
    member_no: str
    name: str
    phone_masked: str
    group: str
    condition: str
    pdc: int
    refill_due: date | None
    overdue_days: int


async def non_adherent(
    store_id: int | None, today: date, actor: StaffUser, after_member: int = 0, limit: int = 50
) -> list[Patient]:
    """Patients (of a store's dispensings, or the chain's) below 80 % PDC over the last 180 days, by member;
    page on with the last member id. Audited: it lists health data."""
    start = today - timedelta(days=WINDOW_DAYS - 1)
    rows = await queries.store_groups(store_id, start, today, CHRONIC_PREFIXES, after_member, limit)
    out = []
    for r in rows:
        days = (today - queries.as_day(r["first_s"])).days + 1  # type: ignore[operator]
        due = queries.as_day(r["last_e"] + 1)
        rule = health.rule_for_atc(r["grp"])
        out.append(
            Patient(
                r["member"],
                r["member_no"],
                r["name"],
                r["phone_masked"] or "",
                r["grp"],
                health.condition_label(rule.condition) if rule else "",
                int(r["covered"]) * 100 // days,
                due,
                max(0, (today - due).days) if due else 0,
            )
        )
    await audit.record(actor, ADHERENCE_VIEW, None, f"non-adherent list store={store_id} after={after_member}")
    return out
