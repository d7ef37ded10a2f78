"""Who a trigger enrols, as one SELECT per trigger over a range of member ids (set-based, never a member loop).

Each candidate SELECT yields `member, store, anchor_on, ref`: the day the journey's step delays count from, and
the occasion (`ref`) that makes the enrolment key unique — a sale number, a year, a refill-due day. Date-driven
triggers look `LOOKBACK_DAYS` back so a day the worker was down is caught up; the key stops a second enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.components import adherence, health
from app.components.care.definitions import CONVERSION_DAYS, LOOKBACK_DAYS, SENIOR_AGE, Definition, prefixes
from app.db import from_day_number, local_date, month_day, typed_param

# A member with a chronic condition: one a medicine can be inferred from (the condition-inference rules).
CHRONIC_CONDITIONS = tuple(sorted({rule.condition for rule in health.inference_rules()}))
CHRONIC_ATC_PREFIXES = tuple(sorted({rule.atc_prefix for rule in health.inference_rules()}))
# A course of care from a purchase runs at most once in this many days per member and journey.
PURCHASE_REPEAT_DAYS = 90
# Fills further back than this do not move a refill-due day (a year of supply at most is laid end to end).
REFILL_LOOKBACK_DAYS = 365
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    """The days a sweep covers, in the chain's zone: `since` … `today`."""

    today: date
    zone: str
    since: date

    @classmethod
    def on(cls, today: date, zone: str, lookback: int = LOOKBACK_DAYS) -> Window:
        return cls(today, zone, today - timedelta(days=lookback))

    def start_utc(self, day: date) -> datetime:
        """The instant `day` begins in the zone, in UTC."""
        return datetime.combine(day, time(0), ZoneInfo(self.zone)).astimezone(UTC)


@dataclass(frozen=True)
class Candidates:
    """A SELECT of (member, store, anchor_on, ref) with its `{}` arguments in order."""

    sql: str
    args: tuple[Any, ...]


def guard(purpose: str) -> str:
    """Members a journey of `purpose` may enrol: never a merged-away record; care needs health-data consent,
    marketing a marketing consent."""
    base = "m.merged_into IS NULL"
    if purpose == "care":
        return base + " AND m.consent_health"
    if purpose == "marketing":
        return base + " AND (m.consent_marketing_sms OR m.consent_marketing_wechat)"
    return base


def _chronic_exists() -> str:
    codes = ", ".join(f"'{c}'" for c in CHRONIC_CONDITIONS)  # codes of our own vocabulary, not input
    return (
        "EXISTS (SELECT 1 FROM member_condition c WHERE c.member = m.id AND c.status = 'active'"
        f" AND c.code IN ({codes}))"
    )


def _atc_match(column: str, given: str) -> tuple[str, tuple[Any, ...]]:
    """`column` starts with one of the given prefixes (the chronic therapies' when none is given)."""
    if given:
        codes = prefixes(given)
        return "(" + " OR ".join(f"{column} LIKE {{}}" for _ in codes) + ")", tuple(c + "%" for c in codes)
    return "(" + " OR ".join(f"{column} LIKE '{p}%'" for p in CHRONIC_ATC_PREFIXES) + ")", ()


def _birthday(d: Definition, w: Window, member_range: str) -> Candidates:
    before = int(d.params.get("days_before", 0))
    greeting: dict[str, date] = {}
    day = w.since
    while day <= w.today:
        target = day + timedelta(days=before)
        greeting[target.strftime("%m-%d")] = day
        if target.month == 2 and target.day == 28 and not _leap(target.year):
            greeting["02-29"] = day  # born on 29 February: greeted on the 28th in other years
        day += timedelta(days=1)
    cases = " ".join(f"WHEN '{md}' THEN {typed_param('date')}" for md in greeting)
    keys = ", ".join(f"'{md}'" for md in greeting)
    md = month_day("m.birth_date")
    sql = (
        f"SELECT m.id AS member, m.home_store AS store, CASE {md} {cases} END AS anchor_on,"
        f" {typed_param('text')} AS ref FROM member m"
        f" WHERE {member_range} AND {guard(d.purpose)} AND m.birth_date IS NOT NULL AND {md} IN ({keys})"
    )
    return Candidates(sql, (*greeting.values(), str(w.today.year)))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _calendar(d: Definition, w: Window, member_range: str, preview: bool = False) -> Candidates | None:
    month, dom = int(d.params["month"]), int(d.params["day"])
    if month == 2 and dom == 29 and not _leap(w.today.year):
        dom = 28
    on = date(w.today.year, month, dom)
    if not preview and not (w.since <= on <= w.today):
        return None
    audience = d.params.get("audience", "all")
    extra, args = "", ()
    if audience == "chronic":
        extra = " AND " + _chronic_exists()
    elif audience == "seniors":
        extra = " AND m.birth_date <= {}"
        args = (_years_before(w.today, SENIOR_AGE),)
    sql = (
        f"SELECT m.id AS member, m.home_store AS store, {typed_param('date')} AS anchor_on,"
        f" {typed_param('text')} AS ref FROM member m WHERE {member_range} AND {guard(d.purpose)}{extra}"
    )
    return Candidates(sql, (on, str(on.year), *args))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _churn(d: Definition, w: Window, member_range: str, sale_range: str) -> Candidates:
    """Chronic patients whose last purchase was N days ago (up to 30 days more: a lapse noticed late still counts;
    the last purchase day in the key makes it once per lapse)."""
    days = int(d.params["days"])
    lo = w.start_utc(w.since - timedelta(days=days + CONVERSION_DAYS - LOOKBACK_DAYS))
    hi = w.start_utc(w.today - timedelta(days=days) + timedelta(days=1))
    last_day = local_date("l.last_at", w.zone)
    sql = (
        f"SELECT m.id AS member, m.home_store AS store, {typed_param('date')} AS anchor_on,"
        f" CAST({last_day} AS TEXT) AS ref FROM member m"
        f" JOIN (SELECT s.member, MAX(s.created_at) AS last_at FROM sale s WHERE {sale_range} GROUP BY s.member) l"
        f" ON l.member = m.id"
        f" WHERE {member_range} AND {guard(d.purpose)} AND l.last_at >= {{}} AND l.last_at < {{}}"
        f" AND {_chronic_exists()}"
    )
    return Candidates(sql, (w.today, lo, hi))


def _refill_due(d: Definition, w: Window, member_range: str, med_range: str) -> Candidates:
    """Members whose medicine of a therapy group (ATC level 4) runs out `lead_days` from now: the trigger day is
    the refill-due day (adherence's rule: fills laid end to end, overlaps shifted forward) − lead, within the
    sweep's window. A later fill moves the due day, so a member who refilled early is not reminded."""
    lead = int(d.params.get("lead_days", 5))
    given = prefixes(d.params.get("atc_prefix") or "")
    groups = adherence.therapy_groups_sql(f" AND {med_range}", given or CHRONIC_ATC_PREFIXES, w.today)
    # trigger day = last covered + 1 - lead ∈ [since, today]  ⇔  last covered ∈ [since + lead - 1, today + lead - 1]
    lo = (w.since - EPOCH).days + lead - 1
    hi = (w.today - EPOCH).days + lead - 1
    anchor = from_day_number(f"g.last_e + 1 - {lead}")
    sql = (
        f"SELECT m.id AS member, COALESCE(g.store, m.home_store) AS store, {anchor} AS anchor_on,"
        f" g.grp || ':' || CAST({from_day_number('g.last_e')} AS TEXT) AS ref FROM member m"
        f" JOIN ({groups}) g ON g.member = m.id"
        f" WHERE {member_range} AND {guard(d.purpose)} AND g.last_e >= {{}} AND g.last_e <= {{}}"
    )
    return Candidates(sql, (w.today - timedelta(days=REFILL_LOOKBACK_DAYS), w.today, lo, hi))


def _unverified(d: Definition, w: Window, member_range: str) -> Candidates:
    months = int(d.params.get("months", 12))
    cutoff = w.start_utc(w.today - timedelta(days=round(months * 30.44)))
    confirmed = local_date("COALESCE(m.verified_at, m.created_at)", w.zone)
    sql = (
        f"SELECT m.id AS member, m.home_store AS store, {typed_param('date')} AS anchor_on,"
        f" CAST({confirmed} AS TEXT) AS ref FROM member m"
        f" WHERE {member_range} AND {guard(d.purpose)} AND COALESCE(m.verified_at, m.created_at) < {{}}"
    )
    return Candidates(sql, (w.today, cutoff))


def swept(d: Definition, w: Window, lo: int, hi: int) -> Candidates | None:
    """The candidates of a daily-swept trigger among member ids in (lo, hi]; None when nothing can match today."""
    member_range = f"m.id > {int(lo)} AND m.id <= {int(hi)}"
    if d.trigger == "birthday":
        return _birthday(d, w, member_range)
    if d.trigger == "calendar":
        return _calendar(d, w, member_range)
    if d.trigger == "churn":
        return _churn(d, w, member_range, f"s.member > {int(lo)} AND s.member <= {int(hi)}")
    if d.trigger == "refill_due":
        return _refill_due(d, w, member_range, f"md.member > {int(lo)} AND md.member <= {int(hi)}")
    if d.trigger == "unverified":
        return _unverified(d, w, member_range)
    return None


def for_event(
    d: Definition, journey_code: str, kind: str, member_id: int, payload: dict, w: Window
) -> Candidates | None:
    """The candidate (one member, or none) an event enrols in a journey with an event trigger."""
    member_range = f"m.id = {int(member_id)}"
    today = typed_param("date")
    if d.trigger == "new_member" and kind == "member.registered":
        sql = (
            f"SELECT m.id AS member, m.home_store AS store, {today} AS anchor_on, 'joined' AS ref FROM member m"
            f" WHERE {member_range} AND {guard(d.purpose)}"
        )
        return Candidates(sql, (w.today,))
    if d.trigger == "condition" and kind == "condition.added" and payload.get("code") == d.params.get("code"):
        sql = (
            f"SELECT m.id AS member, m.home_store AS store, {today} AS anchor_on, {typed_param('text')} AS ref"
            f" FROM member m WHERE {member_range} AND {guard(d.purpose)}"
        )
        return Candidates(sql, (w.today, str(payload["code"])))
    if d.trigger == "vital" and kind == "vital.out_of_range" and payload.get("kind") == d.params.get("kind"):
        # One enrolment per member and day: three high readings in a morning make one task, not three.
        sql = (
            f"SELECT m.id AS member, m.home_store AS store, {today} AS anchor_on, {typed_param('text')} AS ref"
            f" FROM member m WHERE {member_range} AND {guard(d.purpose)}"
        )
        return Candidates(sql, (w.today, w.today.isoformat()))
    if d.trigger == "purchase" and kind == "sale.completed" and payload.get("sale_no"):
        return _purchase(d, journey_code, member_range, str(payload["sale_no"]), w)
    return None


def product_match(d: Definition) -> tuple[str, tuple[Any, ...]]:
    """A product (alias `p`) matches the purchase trigger: its ATC code starts with a prefix, or its category."""
    parts: list[str] = []
    args: list[Any] = []
    if d.params.get("atc_prefix"):
        match, margs = _atc_match("p.atc", d.params["atc_prefix"])
        parts.append(match)
        args += margs
    if d.params.get("category"):
        parts.append("p.category_l1 = {}")
        args.append(d.params["category"])
    return "(" + " OR ".join(parts) + ")", tuple(args)


def _purchase(d: Definition, code: str, member_range: str, sale_no: str, w: Window) -> Candidates:
    match, margs = product_match(d)
    sold_on = local_date("s.created_at", w.zone)
    since = w.today - timedelta(days=PURCHASE_REPEAT_DAYS)
    sql = (
        f"SELECT m.id AS member, s.store AS store, {sold_on} AS anchor_on, s.sale_no AS ref FROM member m"
        " JOIN sale s ON s.member = m.id"
        f" WHERE {member_range} AND {guard(d.purpose)} AND s.sale_no = {{}}"
        " AND EXISTS (SELECT 1 FROM sale_line l JOIN product p ON p.id = l.product"
        f" WHERE l.sale = s.id AND {match})"
        " AND NOT EXISTS (SELECT 1 FROM journey_enrolment e JOIN journey j ON j.id = e.journey"
        " WHERE e.member = m.id AND j.code = {} AND (e.status = 'active' OR e.anchor_on >= {}))"
    )
    return Candidates(sql, (sale_no, *margs, code, since))


def preview(d: Definition, code: str, today: date, zone: str) -> Candidates | None:
    """Who the trigger would have enrolled over the last 30 days (the builder's live count); for a calendar date,
    who its audience is now."""
    w = Window.on(today, zone, lookback=CONVERSION_DAYS)
    everyone = "m.id > 0"
    if d.trigger == "calendar":
        return _calendar(d, w, everyone, preview=True)
    if d.trigger in ("birthday", "churn", "refill_due", "unverified"):
        return swept(d, w, 0, 2**62)
    since = w.start_utc(w.since)
    if d.trigger == "new_member":
        sql = (
            "SELECT m.id AS member, m.home_store AS store, NULL AS anchor_on, '' AS ref FROM member m"
            f" WHERE {guard(d.purpose)} AND m.created_at >= {{}}"
        )
        return Candidates(sql, (since,))
    if d.trigger == "condition":
        sql = (
            "SELECT m.id AS member, m.home_store AS store, NULL AS anchor_on, '' AS ref FROM member m"
            f" WHERE {guard(d.purpose)} AND EXISTS (SELECT 1 FROM member_condition c WHERE c.member = m.id"
            " AND c.status = 'active' AND c.code = {} AND c.recorded_at >= {})"
        )
        return Candidates(sql, (d.params.get("code", ""), since))
    if d.trigger == "vital":
        sql = (
            "SELECT m.id AS member, m.home_store AS store, NULL AS anchor_on, '' AS ref FROM member m"
            f" WHERE {guard(d.purpose)} AND EXISTS (SELECT 1 FROM vital v WHERE v.member = m.id AND v.kind = {{}}"
            " AND v.flag <> '' AND v.measured_at >= {})"
        )
        return Candidates(sql, (d.params.get("kind", ""), since))
    if d.trigger == "purchase":
        match, margs = product_match(d)
        sql = (
            "SELECT m.id AS member, m.home_store AS store, NULL AS anchor_on, '' AS ref FROM member m"
            f" WHERE {guard(d.purpose)} AND EXISTS (SELECT 1 FROM sale s JOIN sale_line l ON l.sale = s.id"
            f" JOIN product p ON p.id = l.product WHERE s.member = m.id AND s.created_at >= {{}} AND {match})"
        )
        return Candidates(sql, (since, *margs))
    return None
