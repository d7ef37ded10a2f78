"""Charts of the vitals section: geometry only (SVG viewBox units), the templates draw them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.components.health.shared import store_zone
from app.components.health.thresholds import (
    BP_HIGH,
    BP_LOW,
    CHART_DAYS,
    GLUCOSE_CONTEXTS,
    GLUCOSE_LOW,
    glucose_context_label,
)
from app.components.health.vitals import VitalView
from app.i18n import _


@dataclass
class ChartPoint:
    """A plotted reading."""

    x: float
    y: float
    value: str
    when: str
    flag: str


@dataclass
class ChartSeries:
    """One line or point set."""

    key: str
    label: str
    points: list[ChartPoint]
    line: bool

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Chart:
    """An SVG chart's geometry in viewBox units; `empty` when there is nothing to plot."""

    key: str
    title: str
    unit: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    references: list[tuple[float, str]] = field(default_factory=list)
    series: list[ChartSeries] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


CHART_WIDTH, CHART_HEIGHT = 720, 280
_MARGIN = {"left": 52, "right": 16, "top": 16, "bottom": 36}


def _frame(key: str, title: str, unit: str, lo: float, hi: float, step: float, start: datetime, end: datetime):
    chart = Chart(key, title, unit, CHART_WIDTH, CHART_HEIGHT, **_MARGIN)
    plot_w = CHART_WIDTH - chart.left - chart.right
    plot_h = CHART_HEIGHT - chart.top - chart.bottom
    span = (end - start).total_seconds()

    def x_of(when: datetime) -> float:
        return chart.left + plot_w * max(0.0, min(1.0, (when - start).total_seconds() / span))

    def y_of(value: float) -> float:
        return chart.top + plot_h * (1 - (value - lo) / (hi - lo))

    tick = lo
    while tick <= hi + 1e-9:
        chart.y_ticks.append((y_of(tick), f"{tick:g}"))
        tick += step
    zone = store_zone()
    local_start = start.astimezone(zone)
    month = date(local_start.year, local_start.month, 1)
    index = 0
    while True:
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        when = datetime(month.year, month.month, 1, tzinfo=zone)
        if when > end:
            break
        if index % 2 == 0:
            chart.x_ticks.append((x_of(when), f"{month.year}-{month.month:02d}"))
        index += 1
    return chart, x_of, y_of


def _bounds(values: list[float], lo: float, hi: float, step: float) -> tuple[float, float]:
    if values:
        lo = min(lo, math.floor(min(values) / step) * step)
        hi = max(hi, math.ceil(max(values) / step) * step)
    return lo, hi


def bp_chart(readings: list[VitalView], end: datetime) -> Chart:
    """Systolic and diastolic lines over the last 12 months, with the 140/90 reference lines."""
    start = end - timedelta(days=CHART_DAYS)
    bp = sorted((v for v in readings if v.kind == "bp" and v.measured_at >= start), key=lambda v: v.measured_at)
    values = [float(v.systolic) for v in bp] + [float(v.diastolic) for v in bp]
    lo, hi = _bounds(values, 40, 200, 20)
    chart, x_of, y_of = _frame("bp", _("Blood pressure"), "mmHg", lo, hi, 20, start, end)
    chart.references = [(y_of(BP_HIGH[0]), "140"), (y_of(BP_HIGH[1]), "90")]
    zone = store_zone()
    # Each line rings only its own out-of-range values (systolic ≥ 140 / < 90, diastolic ≥ 90 / < 60).
    lines = (("systolic", _("systolic"), 0), ("diastolic", _("diastolic"), 1))
    for key, label, i in lines:
        points = []
        for v in bp:
            value = v.systolic if i == 0 else v.diastolic
            flag = "high" if value >= BP_HIGH[i] else ("low" if value < BP_LOW[i] else "")
            when = v.measured_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            points.append(ChartPoint(x_of(v.measured_at), y_of(value), v.value_text, when, flag))
        chart.series.append(ChartSeries(key, label, points, line=True))
    return chart


def glucose_chart(readings: list[VitalView], end: datetime) -> Chart:
    """Glucose points per context over the last 12 months, with the 3.9 / 7.0 / 11.1 references."""
    start = end - timedelta(days=CHART_DAYS)
    glucose = sorted(
        (v for v in readings if v.kind == "glucose" and v.measured_at >= start), key=lambda v: v.measured_at
    )
    lo, hi = _bounds([v.glucose for v in glucose], 0, 16, 2)
    chart, x_of, y_of = _frame("glucose", _("Blood glucose"), "mmol/L", lo, hi, 2, start, end)
    chart.references = [(y_of(GLUCOSE_LOW), "3.9"), (y_of(7.0), "7.0"), (y_of(11.1), "11.1")]
    zone = store_zone()
    for context in GLUCOSE_CONTEXTS:
        points = [
            ChartPoint(
                x_of(v.measured_at),
                y_of(v.glucose),
                v.value_text,
                v.measured_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                v.flag,
            )
            for v in glucose
            if v.glucose_context == context
        ]
        chart.series.append(ChartSeries(context, glucose_context_label(context), points, line=False))
    return chart
