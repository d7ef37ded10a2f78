"""Set-based refill and PDC per member and therapy group: the shifting of overlapping fills in window functions.

Shifted end of fill i (fills of a member and group in dispensing order, C = running total of days' supply):
E_i = C_i + max over j ≤ i of (start_j − C_{j−1}) − 1 — a queue of packs taken one after another, restarting
after each gap. The same rule as `rules.shifted`, tested to agree."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from app.db import day_number, fetch, marks

EPOCH = date(1970, 1, 1)
_PREFIX = re.compile(r"^[A-Z0-9]{1,7}$")


def as_day(n: int | None) -> date | None:
    """A day number of `day_number` back as a date."""
    return None if n is None else EPOCH + timedelta(days=int(n))


def therapy_groups_sql(filters: str, prefixes: tuple[str, ...], today: date) -> str:
    """The per-(member, group) SELECT for other set-based readers (the care engine's refill trigger): columns
    member, grp, first_s, last_e (day numbers), fill_dates, covered, store. Placeholders: window start, `today`,
    then those of `filters` (conditions on medication `md`)."""
    return _groups_sql(filters, prefixes).replace("{end}", str(int((today - EPOCH).days)))


def _groups_sql(filters: str, prefixes: tuple[str, ...]) -> str:
    """Per (member, therapy group): first fill day, last shifted day covered, fill days, days covered up to the
    window's end, and the store of the latest fill. Placeholders: window start, window end, (filters), window end."""
    if not prefixes or not all(_PREFIX.match(p) for p in prefixes):
        raise ValueError(f"ATC prefixes must be 1–7 letters or digits: {prefixes!r}")
    s = day_number("md.started_on")
    u = day_number("md.supply_until")
    atc = " OR ".join(f"md.atc LIKE '{p}%'" for p in prefixes)  # checked just above: letters and digits only
    return (
        "WITH f AS ("
        f" SELECT md.member, substr(md.atc, 1, 5) AS grp, md.id, md.store, {s} AS s, {u} - {s} + 1 AS days"
        " FROM medication md WHERE md.supply_until IS NOT NULL AND md.started_on >= {} AND md.started_on <= {}"
        f" AND ({atc}){filters}),"
        " c AS (SELECT f.*, SUM(days) OVER (PARTITION BY member, grp ORDER BY s, id ROWS UNBOUNDED PRECEDING) AS cum"
        " FROM f),"
        " e AS (SELECT c.*, cum + MAX(s - (cum - days)) OVER (PARTITION BY member, grp ORDER BY s, id"
        " ROWS UNBOUNDED PRECEDING) - 1 AS e_i FROM c)"
        " SELECT member, grp, MIN(s) AS first_s, MAX(e_i) AS last_e, COUNT(DISTINCT s) AS fill_dates,"
        " SUM(CASE WHEN e_i - days + 1 > {end} THEN 0 WHEN e_i < {end} THEN days"
        " ELSE {end} - (e_i - days + 1) + 1 END) AS covered, MAX(store) AS store"
        " FROM e GROUP BY member, grp"
    )


async def member_groups(member_id: int, start: date, today: date, prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The member's therapy groups over [start, today]."""
    end = (today - EPOCH).days
    sql = _groups_sql(" AND md.member = {}", prefixes).replace("{end}", str(int(end)))
    return await fetch(sql + " ORDER BY grp", start, today, member_id)


async def store_groups(
    store_id: int | None, start: date, today: date, prefixes: tuple[str, ...], after_member: int, limit: int
) -> list[dict[str, Any]]:
    """Every member's therapy groups over [start, today] (of one store's dispensings, or all), members in id order
    after `after_member`, at most `limit` rows."""
    end = (today - EPOCH).days
    filters = " AND md.member > {}" + (" AND md.store = {}" if store_id is not None else "")
    sql = _groups_sql(filters, prefixes).replace("{end}", str(int(end)))
    args: list[Any] = [start, today, after_member] + ([store_id] if store_id is not None else [])
    return await fetch(
        "SELECT g.*, m.member_no, m.name, m.phone_masked FROM (" + sql + ") g JOIN member m ON m.id = g.member"
        " WHERE m.merged_into IS NULL AND g.fill_dates >= 2"
        f" AND g.covered * 100 < 80 * ({int(end)} - g.first_s + 1)"
        " ORDER BY g.member, g.grp LIMIT {}",
        *args,
        limit,
    )


async def product_names(member_id: int, groups: list[str]) -> dict[str, dict[str, str]]:
    """The latest product the member bought in each therapy group."""
    if not groups:
        return {}
    in_list = marks(groups)
    rows = await fetch(
        "SELECT substr(md.atc, 1, 5) AS grp, p.name_zh, p.name_en, md.started_on FROM medication md"
        f" JOIN product p ON p.id = md.product WHERE md.member = {{}} AND substr(md.atc, 1, 5) IN ({in_list})"
        " ORDER BY md.started_on, md.id",
        member_id,
        *groups,
    )
    return {r["grp"]: {"zh": r["name_zh"], "en": r["name_en"] or r["name_zh"]} for r in rows}
