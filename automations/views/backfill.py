"""Backfill on enable: after an automation is created or turned on, the offer to start runs for
the objects already in its trigger's state (counted and started by automations.services.backfill).
The builder's save and the toggle send editors here when there is something to offer."""

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from automations.models import Automation
from automations.services.backfill import backfill_count, backfill_plan, backfill_start
from billing.errors import DomainError
from frame.htmx import HtmxHttpRequest
from frame.permissions import editor_required

TEMPLATE = "automations/backfill.html"
SHOWN = 20  # objects listed on the offer; the count says how many in all


def offer_url(automation: Automation) -> str | None:
    """The offer's page when objects already in the trigger's state match the automation, else None."""
    return reverse("automation_backfill", args=[automation.public_id]) if backfill_count(automation) else None


@editor_required
@require_http_methods(["GET", "POST"])
def automation_backfill(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """GET: how many objects are already in the state, a few of them, and the choice. POST
    (`start=1`): start their runs, then the automation's page says how many started."""
    automation = get_object_or_404(Automation, public_id=public_id, archived_at__isnull=True)
    if request.method == "POST":
        if request.POST.get("start") != "1":
            return HttpResponseBadRequest("Confirm with start=1 to start the runs.", content_type="text/plain")
        try:
            done = backfill_start(automation=automation)
        except DomainError as exc:
            return HttpResponse(exc.message, status=409, content_type="text/plain")
        messages.success(request, done.words)
        return redirect("automation_detail", automation.public_id)
    plan = backfill_plan(automation)
    rows = [
        {
            "label": str(candidate.obj),
            "url": reverse(f"{candidate.event.object_type}_detail", args=[candidate.obj.public_id]),
            "customer": candidate.obj.customer.name,
        }
        for candidate in plan.candidates[:SHOWN]
    ]
    context = {"automation": automation, "plan": plan, "rows": rows, "more": max(plan.count - SHOWN, 0)}
    return render(request, TEMPLATE, context)
