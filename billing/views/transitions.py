"""Transitions from a billing object's page: POST → billing service → back to the page.

Editors only (403 for anyone else). A refusal is never a 500: an invalid form is a 400, a
transition the object's state does not allow a 409, any other billing error a 400, each
re-rendering the page with the message. Destructive transitions are confirmed in a dialog;
without JavaScript the button leads to a confirmation page instead.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from billing.errors import BillingError, InvalidTransition
from billing.forms import TransitionForm
from billing.views.controls import Transition, controls, find
from billing.views.details import get_detail_object, render_detail
from frame.permissions import editor_required


def _transition(kind: str, name: str) -> Transition:
    transition = find(kind, name)
    if transition is None:
        raise Http404(f"No transition {name!r} for a {kind}.")
    return transition


def _form_errors(form: TransitionForm) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        parts.extend(f"{label}: {error}" if label else error for error in errors)
    return " ".join(parts)


@require_POST
@editor_required
def transition(request: HttpRequest, kind: str, public_id: str, name: str) -> HttpResponse:
    """Apply one transition to one object, as the form of its button or dialog posted it."""
    transition = _transition(kind, name)
    obj = get_detail_object(kind, public_id)
    form, kwargs = None, {}
    if transition.form_class is not None:
        form = transition.form_class(request.POST, obj=obj)
        if not form.is_valid():
            error = f"{transition.label}: {_form_errors(form)}"
            return render_detail(request, obj, status=400, error=error, failed=name, bound_form=form)
        kwargs = form.service_kwargs()
    try:
        result = transition.call(obj, **kwargs)
    except BillingError as exc:
        status = 409 if isinstance(exc, InvalidTransition) else 400
        obj = get_detail_object(kind, public_id)  # as the refusal left it
        error = f"{transition.label}: {exc.message}"
        return render_detail(request, obj, status=status, error=error, failed=name, bound_form=form)
    level, text = transition.report(obj, result)
    messages.add_message(request, level, text)
    return redirect(f"{kind}_detail", public_id=public_id)


@require_safe
@editor_required
def transition_confirm(request: HttpRequest, kind: str, public_id: str, name: str) -> HttpResponse:
    """The confirmation (or the form) of a transition on a page of its own, for browsers without
    JavaScript; with it, the same content opens in a dialog on the object's page."""
    transition = _transition(kind, name)
    obj = get_detail_object(kind, public_id)
    control = next((c for c in controls(request, obj) if c.transition.name == name), None)
    if control is None:
        messages.error(request, f"{transition.label}: not possible while the {kind} is {obj.status}.")
        return redirect(f"{kind}_detail", public_id=public_id)
    context = {"object": obj, "kind": kind, "control": control, "back_url": reverse(f"{kind}_detail", args=[public_id])}
    return render(request, "billing/transition_confirm.html", context)
