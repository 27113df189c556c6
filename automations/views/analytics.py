"""The recovery analytics page (figures, a weekly chart and the splits for a period), its CSV,
and the definitions the page links to, read from the README so they are written once."""

import csv
import functools
import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from automations import analytics
from automations.analytics import Figure, Period, PeriodError, Report, Week

PAGE = "automations/analytics.html"
DEFINITIONS = "automations/analytics_definitions.html"
README_SECTION = "Recovery analytics"

# The weekly chart: a group of three bars (failed, recovered, lost amounts) per week.
CHART_WIDTH, CHART_HEIGHT, AXIS_LEFT, AXIS_BOTTOM, TOP = 720, 260, 72, 36, 12
SERIES = (("failed", "Failed"), ("recovered", "Recovered"), ("lost", "Lost"))


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


def weekly_chart(weeks: list[Week], currency: str) -> dict:
    """Bars (heights scaled to the largest weekly amount), the week labels (at most ~12, evenly
    spaced) and the value axis' ticks, in SVG units."""
    plot_width, plot_height = CHART_WIDTH - AXIS_LEFT - 8, CHART_HEIGHT - AXIS_BOTTOM - TOP
    top = max((getattr(w, key).amount for w in weeks for key, _ in SERIES), default=Decimal(0)) or Decimal(1)
    slot = plot_width / max(len(weeks), 1)
    bar_width = max(slot * 0.8 / len(SERIES), 1)
    bars, labels = [], []
    every = max(1, -(-len(weeks) // 12))
    for i, week in enumerate(weeks):
        left = AXIS_LEFT + i * slot + slot * 0.1
        for j, (key, name) in enumerate(SERIES):
            figure: Figure = getattr(week, key)
            height = float(figure.amount / top) * plot_height
            bars.append(
                ChartBar(
                    x=round(left + j * bar_width, 2),
                    y=round(TOP + plot_height - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    css=f"an-bar-{key}",
                    title=f"Week of {week.start:%Y-%m-%d}, {name.lower()}: {figure.rounded} {currency}",
                )
            )
        if i % every == 0:
            labels.append(Tick(round(AXIS_LEFT + i * slot + slot / 2, 2), f"{week.start:%d %b}"))
    ticks = [
        Tick(round(TOP + plot_height * (1 - share), 2), f"{(top * Decimal(share)).quantize(Decimal(1)):,}")
        for share in (0, 0.5, 1)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "axis_left": AXIS_LEFT,
        "axis_x": AXIS_LEFT - 6,
        "baseline": TOP + plot_height,
        "label_y": TOP + plot_height + 18,
        "right": CHART_WIDTH - 8,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
    }


def _period_context(period: Period | None, params) -> dict:
    return {
        "presets": analytics.PRESETS,
        "days": params.get("days", "") if not params.get("from") else "",
        "from": period.first.isoformat() if period else params.get("from", ""),
        "to": period.last.isoformat() if period else params.get("to", ""),
    }


@require_safe
def analytics_page(request: HttpRequest) -> HttpResponse:
    """The figures for `?from=&to=` (dates) or `?days=` (30, 90, 365; 30 by default); a period
    the page cannot show answers 400 with the form and the reason."""
    try:
        period = analytics.parse_period(request.GET)
    except PeriodError as error:
        context = {"error": str(error), **_period_context(None, request.GET)}
        return render(request, PAGE, context, status=400)
    report = analytics.recovery_report(period)
    context = {
        "report": report,
        "period": period,
        "chart": weekly_chart(report.weeks, report.currency),
        "query": request.GET.urlencode(),
        **_period_context(period, request.GET),
    }
    return render(request, PAGE, context)


CSV_COLUMNS = [
    "section",
    "label",
    "failed_count",
    "failed_amount",
    "recovered_count",
    "recovered_amount",
    "lost_count",
    "lost_amount",
    "not_converted",
    "currency",
]


def csv_rows(report: Report) -> list[list]:
    """The CSV's rows: totals, the weekly series, then the splits (by automation and version, by
    trigger, by decline type); a blank figure is one the row does not have."""

    def row(section, label, failed=None, recovered=None, lost=None) -> list:
        cells = [section, label]
        for figure in (failed, recovered, lost):
            cells += ["", ""] if figure is None else [figure.count, figure.rounded]
        missing = sum(f.not_converted for f in (failed, recovered, lost) if f is not None)
        return [*cells, missing, report.currency]

    rows = [
        row("total", f"{report.period.first} to {report.period.last}", report.failed, report.recovered, report.lost)
    ]
    rows += [row("week", week.start.isoformat(), week.failed, week.recovered, week.lost) for week in report.weeks]
    rows += [row("automation", split.label, recovered=split.recovered) for split in report.by_automation]
    rows += [row("trigger", split.label, recovered=split.recovered) for split in report.by_trigger]
    rows += [row("decline_type", split.label, split.failed, split.recovered) for split in report.by_decline]
    return rows


@require_safe
def analytics_csv(request: HttpRequest) -> HttpResponse:
    try:
        period = analytics.parse_period(request.GET)
    except PeriodError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    report = analytics.recovery_report(period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recovery-{period.first}-to-{period.last}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))
    return response


@functools.cache
def readme_definitions() -> list[tuple[str, SafeString | list[SafeString]]]:
    """The README's "Recovery analytics" section as paragraphs and lists (the README is the one
    home of the definitions; this reads it once per process)."""
    text = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(README_SECTION)}\n(.*?)(?=^## )", text, re.S | re.M)
    blocks: list[tuple[str, SafeString | list[SafeString]]] = []
    for chunk in (match.group(1) if match else "").strip().split("\n\n"):
        if chunk.startswith("- "):
            items = re.split(r"\n- ", chunk[2:])
            blocks.append(("list", [_inline(item) for item in items]))
        elif chunk.strip():
            blocks.append(("paragraph", _inline(chunk)))
    return blocks


def _inline(text: str) -> SafeString:
    """**bold** and `code` of a README line, everything else escaped."""
    html = str(escape(" ".join(text.split())))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    html = re.sub(r"`(.+?)`", r"<code>\1</code>", html)
    return mark_safe(html)  # noqa: S308 (escaped above; only our own tags added)


@require_safe
def analytics_definitions(request: HttpRequest) -> HttpResponse:
    return render(request, DEFINITIONS, {"blocks": readme_definitions()})
