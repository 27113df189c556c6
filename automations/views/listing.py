"""The automations list: grouped by trigger in priority order, with the enabled toggle and the
priority controls (drag and drop, or Move up / Move down for keyboard users)."""

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from automations import selectors
from automations.models import Automation
from automations.services import definitions
from automations.services.definitions import CANCEL, FINISH, DefinitionError
from automations.triggers import TRIGGERS
from automations.views.backfill import offer_url as backfill_offer_url
from billing.errors import DomainError
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required

LIST = "automations/list.html"
TOGGLE = "automations/toggle.html"
UP, DOWN = "up", "down"


@require_safe
def automation_list(request: HtmxHttpRequest) -> HttpResponse:
    groups = selectors.automation_groups()
    context = {"groups": groups, "has_automations": any(group.rows for group in groups)}
    return render(request, LIST, context)


def _list_url(trigger: str) -> str:
    return f"{reverse('automations')}#trigger-{selectors.trigger_slug(trigger)}"


def _group_response(
    request, trigger: str, *, error: str = "", status: int = 200, focus: str = "", focus_id: str = ""
) -> HttpResponse:
    """The trigger's group, re-rendered for an htmx swap (also on a refused change: it shows the
    saved order again, with the message)."""
    (group,) = selectors.automation_groups(trigger)
    context = {"group": group, "error": error, "focus": focus, "focus_id": focus_id}
    return render(request, f"{LIST}#group", context, status=status)


@require_POST
@editor_required
def automation_reorder(request: HtmxHttpRequest) -> HttpResponse:
    """Save a trigger's new priority order: `trigger` and every automation's `order` (public id),
    first checked first. A partial, foreign or repeated list changes nothing (400)."""
    trigger = request.POST.get("trigger", "")
    if trigger not in TRIGGERS:
        return HttpResponseBadRequest("Unknown trigger: nothing was reordered.", content_type="text/plain")
    try:
        definitions.automation_reorder(trigger=trigger, ordered_ids=request.POST.getlist("order"), user=request.user)
    except DefinitionError as exc:
        return _group_response(request, trigger, error=f"The order was not saved. {exc.message}", status=400)
    if not wants_fragment(request):
        messages.success(request, f"New priority order saved for “{TRIGGERS[trigger].label}”.")
        return redirect(_list_url(trigger))
    return _group_response(request, trigger)


@require_POST
@editor_required
def automation_move(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Move an automation one place up or down in its trigger's order (the keyboard alternative
    to dragging). Works as a plain form too: it then redirects to the list."""
    automation = get_object_or_404(Automation, public_id=public_id, archived_at__isnull=True)
    direction = request.POST.get("direction")
    if direction not in (UP, DOWN):
        return HttpResponseBadRequest("Say whether to move it up or down.", content_type="text/plain")
    order = selectors.priority_order(automation.trigger)
    index = order.index(public_id)
    other = index - 1 if direction == UP else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
        try:
            definitions.automation_reorder(trigger=automation.trigger, ordered_ids=order, user=request.user)
        except DefinitionError:
            # Someone else changed this trigger's automations meanwhile: show what is saved now.
            error = "The order changed meanwhile; here it is as saved now. Try again."
            if wants_fragment(request):
                return _group_response(request, automation.trigger, error=error, status=409)
            messages.error(request, error)
            return redirect(_list_url(automation.trigger))
        position = other
    else:
        position = index
    if not wants_fragment(request):
        messages.success(request, f"“{automation.name}” is now number {position + 1}.")
        return redirect(_list_url(automation.trigger))
    # Keep the focus on the moved row; at the top or bottom its button in that direction is disabled.
    focus = direction
    if position == 0 and direction == UP:
        focus = DOWN if len(order) > 1 else ""
    elif position == len(order) - 1 and direction == DOWN:
        focus = UP if len(order) > 1 else ""
    return _group_response(request, automation.trigger, focus=focus, focus_id=public_id)


def _next_url(request) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return ""


@require_POST
@editor_required
def automation_toggle(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Turn an automation on (`enabled=1`, at once) or off (`enabled=0`).

    Turning off an automation with runs in progress first asks what happens to them: the answer
    to this POST is that question (a dialog for htmx, a page otherwise), and the choice comes back
    as `in_flight=finish` or `in_flight=cancel`. Turning on one that was off, when objects already
    in its trigger's state match it, leads to the offer to start runs for them too (the backfill page).
    """
    automation = get_object_or_404(Automation, public_id=public_id, archived_at__isnull=True)
    enabled, in_flight = request.POST.get("enabled"), request.POST.get("in_flight", "")
    if enabled not in ("0", "1"):
        return HttpResponseBadRequest(
            "Say whether to turn it on (enabled=1) or off (enabled=0).", content_type="text/plain"
        )
    if in_flight not in ("", FINISH, CANCEL):
        return HttpResponseBadRequest("Runs in progress either finish or are canceled.", content_type="text/plain")
    name, was_on = automation.name, automation.enabled
    try:
        if enabled == "1":
            definitions.automation_enable(automation=automation, user=request.user)
            message = f"“{name}” is on: it matches new events again."
            if not was_on and (url := backfill_offer_url(automation)):
                # Objects already in the trigger's state: offer to start runs for them too.
                messages.success(request, message)
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        else:
            if not in_flight:
                count = selectors.active_run_count(automation)
                if count and automation.enabled:
                    return _toggle_question(request, automation, count)
                in_flight = FINISH
            count = definitions.automation_disable(automation=automation, in_flight=in_flight, user=request.user)
            if not count:
                message = f"“{name}” is off: it matches nothing until you turn it on."
            elif in_flight == CANCEL:
                message = f"“{name}” is off and its {count} run{'s' if count != 1 else ''} in progress canceled."
            else:
                message = f"“{name}” is off; its {count} run{'s' if count != 1 else ''} in progress will finish."
    except DomainError as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain")
    if not wants_fragment(request):
        messages.success(request, message)
        return redirect(_next_url(request) or _list_url(automation.trigger))
    return _row_response(request, automation, message)


def _toggle_question(request: HtmxHttpRequest, automation: Automation, count: int) -> HttpResponse:
    context = {"automation": automation, "count": count, "next": _next_url(request)}
    if wants_fragment(request):
        # The dialog opens on top of the page (relance.js shows it as a modal).
        response = render(request, f"{TOGGLE}#dialog", context)
        return reswap(retarget(response, "body"), "beforeend")
    return render(request, TOGGLE, context)


def _row_response(request: HtmxHttpRequest, automation: Automation, message: str) -> HttpResponse:
    (group,) = selectors.automation_groups(automation.trigger)
    row = next(row for row in group.rows if row.automation.pk == automation.pk)
    context = {"group": group, "row": row, "focus": "toggle", "focus_id": automation.public_id, "flash": message}
    response = render(request, f"{LIST}#toggled", context)
    patch_vary_headers(response, ["HX-Request"])
    return response
