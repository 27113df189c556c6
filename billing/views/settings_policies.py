"""Settings → Retry policies: named retry schedules that automations start. Everyone sees them;
editors add, change and delete them (a policy in use cannot be deleted)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from billing.forms import RetryPolicyForm
from billing.models import RetryPolicy
from billing.services import retry_policies as services
from frame.permissions import editor_required


@require_safe
def retry_policy_list(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/settings_policies.html", {"policies": services.retry_policies_with_usage()})


def _render_form(request: HttpRequest, form: RetryPolicyForm, policy: RetryPolicy | None, status: int = 200):
    context = {"form": form, "policy": policy}
    if policy is not None:
        context["usage"] = services.retry_policy_usage(policy)
    return render(request, "billing/settings_policy_form.html", context, status=status)


@editor_required
@require_http_methods(["GET", "POST"])
def retry_policy_add(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_form(request, RetryPolicyForm(), None)
    form = RetryPolicyForm(request.POST)
    if form.is_valid():
        try:
            policy = services.retry_policy_create(name=form.cleaned_data["name"], **form.schedule())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Retry policy “{policy.name}” added.")
            return redirect("settings_retry_policies")
    return _render_form(request, form, None, status=400)


@editor_required
@require_http_methods(["GET", "POST"])
def retry_policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(RetryPolicy, pk=pk)
    if request.method != "POST":
        return _render_form(request, RetryPolicyForm(instance=policy), policy)
    # The form works on a copy: a refused change must not show as saved on this page.
    form = RetryPolicyForm(request.POST, instance=RetryPolicy.objects.get(pk=policy.pk))
    if form.is_valid():
        try:
            policy = services.retry_policy_update(policy=policy, name=form.cleaned_data["name"], **form.schedule())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Retry policy “{policy.name}” saved.")
            return redirect("settings_retry_policies")
    return _render_form(request, form, policy, status=400)


@editor_required
@require_http_methods(["GET", "POST"])
def retry_policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (the list page asks in a dialog); the POST deletes."""
    policy = get_object_or_404(RetryPolicy, pk=pk)
    if request.method != "POST":
        context = {"policy": policy, "usage": services.retry_policy_usage(policy)}
        return render(request, "billing/settings_policy_delete.html", context)
    try:
        services.retry_policy_delete(policy=policy)
    except services.RetryPolicyInUse as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Retry policy “{policy.name}” deleted.")
    return redirect("settings_retry_policies")
