"""Backtests: start one for a saved automation (its page) or the builder's draft ("Backtest this
draft"), and read its figures; a large one's progress updates live (htmx polling). Editors start
backtests, editors and viewers read them."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from automations import builder_post
from automations.engine.backtest import OBJECTS_KEPT
from automations.models import Automation, Backtest, BacktestStatus
from automations.services import backtests
from automations.services.definitions import DefinitionError
from automations.triggers import TRIGGERS
from billing.errors import DomainError
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required, is_editor

START = "automations/backtest.html"
DETAIL = "automations/backtest_detail.html"
INVALID = "automations/backtest_invalid.html"
RECENT = 10
OBJECT_URLS = {"invoice": "invoice_detail", "subscription": "subscription_detail", "quote": "quote_detail"}


@require_http_methods(["GET", "POST"])
def automation_backtest(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """A saved automation's backtests and the form to start one (POST: editors only)."""
    automation = get_object_or_404(Automation.objects.select_related("current_version"), public_id=public_id)
    days, error = request.POST.get("days", backtests.DEFAULT_DAYS), ""
    if request.method == "POST":
        if not is_editor(request.user):
            raise PermissionDenied("Only editors can start a backtest.")
        try:
            started = backtests.backtest_automation(
                automation=automation, days=backtests.clean_days(days), user=request.user
            )
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("backtest_detail", started.public_id)
    context = {
        "automation": automation,
        "trigger": TRIGGERS.get(automation.trigger),
        "days": days,
        "max_days": backtests.MAX_DAYS,
        "error": error,
        "recent": automation.backtests.select_related("requested_by")[:RECENT],
    }
    return render(request, START, context, status=400 if error else 200)


@require_POST
@editor_required
def backtest_draft(request: HtmxHttpRequest) -> HttpResponse:
    """The builder's form posted by "Backtest this draft" (`?automation=` when it edits one)."""
    automation = None
    if edited := request.GET.get("automation"):
        automation = get_object_or_404(Automation, public_id=edited, archived_at__isnull=True)
    draft = builder_post.parse_post(request.POST)
    if automation is not None:
        draft.trigger = automation.trigger  # as the builder: a saved automation's trigger never changes
    problems: list[str] = []
    try:
        started = backtests.backtest_draft(
            name=draft.name.strip(),
            **builder_post.to_definition(draft),
            days=backtests.clean_days(request.POST.get("backtest_days", backtests.DEFAULT_DAYS)),
            place_before=draft.place_before,
            automation=automation,
            user=request.user,
        )
    except DefinitionError as exc:
        problems = list(exc.errors.values())
    except DomainError as exc:
        problems = [exc.message]
    if problems:
        return render(request, INVALID, {"problems": problems, "automation": automation}, status=400)
    return redirect("backtest_detail", started.public_id)


@dataclass
class Row:
    """One figure of the table: what it counts, how many, the objects behind it."""

    label: str
    count: int
    objects: list[str]
    key: str
    level: int = 0  # 1: a part of the figure above it

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.objects))


def report_rows(result: dict) -> list[Row]:
    """The result's figures in reading order, for the table and the chart."""
    rows = [Row("Events that start the trigger", **_figure(result["opportunities"]), key="opportunities")]
    for i, taken in enumerate(result["taken"]):
        rows.append(Row(f"Taken by “{taken['name']}” (checked first)", **_figure(taken), key=f"taken-{i}", level=1))
    rows.append(Row("Filters did not match", **_figure(result["not_matched"]), key="not-matched", level=1))
    for i, failed in enumerate(result["failed_filters"]):
        rows.append(Row(f"… first failing: {failed['filter']}", **_figure(failed), key=f"filter-{i}", level=1))
    rows.append(Row("Matched, but already ended", **_figure(result["already_ended"]), key="already-ended", level=1))
    rows.append(Row("Runs it would have started", **_figure(result["started"]), key="started"))
    rows.append(Row("Ended early", **_figure(result["ended_early"]), key="ended-early", level=1))
    for i, ended in enumerate(result["end_reasons"]):
        rows.append(Row(f"… {ended['reason']}", **_figure(ended), key=f"reason-{i}", level=1))
    rows.append(Row("Completed", **_figure(result["completed"]), key="completed", level=1))
    rows.append(Row("Still in progress", **_figure(result["in_progress"]), key="in-progress", level=1))
    return rows


def _figure(figure: dict) -> dict:
    return {"count": figure["count"], "objects": figure["objects"]}


@dataclass
class Bar:
    label: str
    count: int
    y: int
    width: int
    css: str

    @property
    def short(self) -> str:
        """The label as drawn beside its bar (the table has it whole)."""
        return self.label if len(self.label) <= LABEL_CHARS else self.label[: LABEL_CHARS - 1] + "…"

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 6

    @property
    def value_x(self) -> int:
        return LABEL_WIDTH + self.width + 6


CHART_WIDTH, BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, LABEL_CHARS = 640, 22, 10, 260, 36


def chart_bars(result: dict) -> tuple[list[Bar], int]:
    """The chart's bars (widths scaled to the largest figure) and the chart's height."""
    figures = [
        ("Events that start the trigger", result["opportunities"]["count"], "bt-bar-events"),
        ("Taken by higher automations", sum(t["count"] for t in result["taken"]), "bt-bar-taken"),
        ("Filters did not match", result["not_matched"]["count"], "bt-bar-unmatched"),
        ("Runs started", result["started"]["count"], "bt-bar-started"),
        ("Ended early", result["ended_early"]["count"], "bt-bar-ended"),
    ]
    figures += [(f"Step {s['position']}: {s['label']}", s["ran"]["count"], "bt-bar-action") for s in result["steps"]]
    top = max((count for _, count, _ in figures), default=0) or 1
    room = CHART_WIDTH - LABEL_WIDTH - 70  # the count is written after the bar
    bars = [
        Bar(label, count, i * (BAR_HEIGHT + BAR_GAP), round(room * count / top), css)
        for i, (label, count, css) in enumerate(figures)
    ]
    return bars, len(bars) * (BAR_HEIGHT + BAR_GAP)


def _backtest(backtest_id: str) -> Backtest:
    try:
        return Backtest.objects.select_related("automation", "requested_by").get(public_id=backtest_id)
    except Backtest.DoesNotExist:
        raise Http404("No such backtest.") from None


def _detail(request: HtmxHttpRequest, backtest_row: Backtest, *, error: str = "", days=None) -> HttpResponse:
    context = {
        "backtest": backtest_row,
        "trigger": TRIGGERS.get(backtest_row.trigger),
        "automation": backtest_row.automation,
        "finished": backtest_row.status in (BacktestStatus.DONE, BacktestStatus.FAILED),
        "error": error,
        "days": days or backtest_row.days,
        "max_days": backtests.MAX_DAYS,
        "objects_kept": OBJECTS_KEPT,
    }
    result = backtest_row.result if backtest_row.status == BacktestStatus.DONE else None
    if result:
        object_url = OBJECT_URLS.get(result["object_type"], "")
        bars, height = chart_bars(result)
        context |= {
            "result": result,
            "rows": report_rows(result),
            "object_url": object_url,
            "bars": bars,
            "chart": {"width": CHART_WIDTH, "height": height, "label_width": LABEL_WIDTH, "bar_height": BAR_HEIGHT},
        }
    template = f"{DETAIL}#report" if wants_fragment(request) and not error else DETAIL
    response = render(request, template, context, status=400 if error else 200)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
def backtest_detail(request: HtmxHttpRequest, backtest_id: str) -> HttpResponse:
    """The backtest's progress (polled by htmx until it is finished), then its figures."""
    return _detail(request, _backtest(backtest_id))


@require_POST
@editor_required
def backtest_again(request: HtmxHttpRequest, backtest_id: str) -> HttpResponse:
    """The same automation or draft over another number of days."""
    backtest_row = _backtest(backtest_id)
    days = request.POST.get("days", "")
    try:
        started = backtests.backtest_again(
            backtest_row=backtest_row, days=backtests.clean_days(days), user=request.user
        )
    except DomainError as exc:
        return _detail(request, backtest_row, error=exc.message, days=days)
    return redirect("backtest_detail", started.public_id)
