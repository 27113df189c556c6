"""An automation's detail page (definition, versions, runs filtered by status) and each run's
timeline, where editors can cancel a run in progress."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST, require_safe

from automations import selectors
from automations.analytics import automation_recovery, last_days
from automations.models import Automation, Run, RunStatus
from automations.services.runs import RunNotActive
from automations.services.runs import run_cancel as cancel_run
from automations.services.summary import automation_summary
from automations.triggers import TRIGGERS
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.lists import CappedPaginator
from frame.permissions import editor_required

DETAIL = "automations/detail.html"
RUN = "automations/run.html"
PAGE_SIZE = 25
RECOVERY_DAYS = 30  # the recovery panel's period; the analytics page shows others
ALL = "all"
STATUSES = {value for value, _ in selectors.RUN_STATUSES}


def _automation(public_id: str) -> Automation:
    try:
        return selectors.automation_detail(public_id)
    except Automation.DoesNotExist:
        raise Http404("No such automation.") from None


@require_safe
def automation_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The definition, its versions and its runs; `?status=` filters the runs (an unknown status is
    ignored with a message), `?page=` pages them (out of range gives the nearest page)."""
    automation = _automation(public_id)
    status, status_error = request.GET.get("status", ""), ""
    if status not in STATUSES | {ALL, ""}:
        status_error = "Unknown run status: showing all runs."
        status = ""
    runs = selectors.automation_runs(automation, "" if status == ALL else status)
    page_obj = CappedPaginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {"status": status} if status else {}
    context = {
        "automation": automation,
        "status": status,
        "status_error": status_error,
        "statuses": selectors.RUN_STATUSES,
        "page_obj": page_obj,
        "run_rows": selectors.run_rows(list(page_obj.object_list)),
        "query": query,
        "trigger": TRIGGERS.get(automation.trigger),
        "detail_url": reverse("automation_detail", args=[automation.public_id]),
    }
    if wants_fragment(request):
        response = render(request, f"{DETAIL}#results", context)
    else:
        versions, version_count = selectors.automation_versions(automation)
        context |= {
            "summary": automation_summary(automation),
            "definition": selectors.definition_rows(automation),
            "versions": versions,
            "version_count": version_count,
            "active_runs": selectors.active_run_count(automation),
            "recovery": automation_recovery(automation, last_days(RECOVERY_DAYS)),
        }
        response = render(request, DETAIL, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _timeline(automation: Automation, run_id: str) -> selectors.Timeline:
    try:
        return selectors.run_timeline(automation, run_id)
    except Run.DoesNotExist:
        raise Http404("No such run for this automation.") from None


@require_safe
def run_detail(request: HtmxHttpRequest, public_id: str, run_id: str) -> HttpResponse:
    automation = _automation(public_id)
    return render(request, RUN, {"automation": automation, "timeline": _timeline(automation, run_id)})


@require_POST
@editor_required
def run_cancel(request: HtmxHttpRequest, public_id: str, run_id: str) -> HttpResponse:
    """Cancel a run in progress. Without `confirm=yes` (no JavaScript for the dialog) the answer is
    the run's page asking for confirmation; a run that has finished is refused (409)."""
    automation = _automation(public_id)
    timeline = _timeline(automation, run_id)
    context = {"automation": automation, "timeline": timeline}
    if timeline.run.status != RunStatus.ACTIVE:
        context["error"] = f"This run has already finished ({timeline.run.get_status_display().lower()})."
        return render(request, RUN, context, status=409)
    if request.POST.get("confirm") != "yes":
        return render(request, RUN, context | {"confirm": True})
    try:
        cancel_run(run=timeline.run, user=request.user)
    except RunNotActive as exc:
        return render(request, RUN, context | {"error": exc.message}, status=409)
    messages.success(request, "The run is canceled: none of its remaining steps will happen.")
    return redirect("run_detail", public_id=automation.public_id, run_id=timeline.run.public_id)
