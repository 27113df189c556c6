"""Settings → Webhooks: endpoints, their signing secrets and their deliveries. Editors only, GETs included:
the pages show where the account's data is sent."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required
from notifications import selectors
from notifications.delivery import resend
from notifications.forms import EnabledForm, EndpointForm, RollSecretForm
from notifications.models import WebhookEndpoint
from notifications.services.endpoints import (
    EndpointError,
    NewSecret,
    endpoint_create,
    endpoint_delete,
    endpoint_roll_secret,
    endpoint_set_enabled,
    endpoint_update,
    signing_secrets,
)

PAGE_SIZE = 25

# A new secret travels from the POST that made it to the page that shows it, once, in the session.
NEW_SECRET_KEY = "notifications.new_secret"


def _endpoint(public_id: str) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, public_id=public_id)


def _remember_secret(request: HttpRequest, new: NewSecret) -> None:
    request.session[NEW_SECRET_KEY] = {"endpoint": new.endpoint.public_id, "secret": new.secret}


def _take_secret(request: HttpRequest, endpoint: WebhookEndpoint) -> str | None:
    """The secret made for this endpoint by the previous request, removed from the session as it is read."""
    stored = request.session.pop(NEW_SECRET_KEY, None)
    if isinstance(stored, dict) and stored.get("endpoint") == endpoint.public_id:
        return stored.get("secret")
    return None


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


@editor_required
@require_safe
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/webhook_list.html", {"endpoints": selectors.endpoint_list()})


@editor_required
@require_http_methods(["GET", "POST"])
def webhook_add(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "notifications/webhook_form.html", {"form": EndpointForm(), "endpoint": None})
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            created = endpoint_create(
                url=form.cleaned_data["url"],
                enabled_events=form.enabled_events,
                description=form.cleaned_data["description"],
            )
        except EndpointError as exc:
            form.add_error("url", exc.message)
        else:
            _remember_secret(request, created)
            messages.success(request, "Endpoint added. Copy its signing secret now: it is shown only once.")
            return redirect("notifications:webhook_detail", created.endpoint.public_id)
    return render(request, "notifications/webhook_form.html", {"form": form, "endpoint": None}, status=400)


@editor_required
@require_safe
def webhook_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    return _render_detail(request, _endpoint(public_id))


def _render_detail(
    request: HtmxHttpRequest, endpoint: WebhookEndpoint, *, roll_form: RollSecretForm | None = None, status: int = 200
) -> HttpResponse:
    """The endpoint page, or only its deliveries for an htmx page change (which leaves a new secret unread)."""
    page_obj = Paginator(selectors.endpoint_deliveries(endpoint), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "page_obj": page_obj, "query": {}}
    if wants_fragment(request) and request.method == "GET":
        response = render(request, "notifications/webhook_detail.html#results", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    new_secret = _take_secret(request, endpoint)
    secrets_in_use = signing_secrets(endpoint)
    context |= {
        "new_secret": new_secret,
        "old_secret_until": endpoint.previous_secret_expires_at if len(secrets_in_use) > 1 else None,
        "roll_form": roll_form or RollSecretForm(),
    }
    response = render(request, "notifications/webhook_detail.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    if new_secret:
        patch_cache_control(response, no_store=True)  # the only time the full secret is sent
    return response


@editor_required
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(public_id)
    if request.method != "POST":
        context = {"form": EndpointForm.for_endpoint(endpoint), "endpoint": endpoint}
        return render(request, "notifications/webhook_form.html", context)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint_update(
                endpoint=endpoint,
                url=form.cleaned_data["url"],
                enabled_events=form.enabled_events,
                description=form.cleaned_data["description"],
            )
        except EndpointError as exc:
            form.add_error("url", exc.message)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("notifications:webhook_detail", endpoint.public_id)
    return render(request, "notifications/webhook_form.html", {"form": form, "endpoint": endpoint}, status=400)


@editor_required
@require_POST
def webhook_set_enabled(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Turn sending on or off; an htmx request gets the updated state panel back."""
    endpoint = _endpoint(public_id)
    form = EnabledForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Send enabled=1 or enabled=0.")
    endpoint_set_enabled(endpoint=endpoint, enabled=form.cleaned_data["enabled"])
    if wants_fragment(request):
        return render(request, "notifications/webhook_detail.html#state", {"endpoint": endpoint})
    if endpoint.enabled:
        messages.success(request, "Endpoint enabled: new events are sent to it again.")
    else:
        messages.success(request, "Endpoint disabled: new events are not sent to it until you enable it.")
    return redirect("notifications:webhook_detail", endpoint.public_id)


@editor_required
@require_POST
def webhook_roll_secret(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(public_id)
    form = RollSecretForm(request.POST)
    if form.is_valid():
        try:
            rolled = endpoint_roll_secret(endpoint=endpoint, grace=form.grace_period)
        except EndpointError as exc:
            form.add_error("grace", exc.message)
        else:
            _remember_secret(request, rolled)
            expires = rolled.endpoint.previous_secret_expires_at
            if expires:
                messages.success(request, f"New secret made. The old one keeps signing too until {_when(expires)}.")
            else:
                messages.success(request, "New secret made. The old one no longer signs deliveries.")
            return redirect("notifications:webhook_detail", endpoint.public_id)
    return _render_detail(request, endpoint, roll_form=form, status=400)


@editor_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, public_id: str) -> HttpResponse:
    """GET asks for confirmation; the POST from that page deletes."""
    endpoint = _endpoint(public_id)
    if request.method == "POST":
        endpoint_delete(endpoint=endpoint)
        messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
        return redirect("notifications:webhook_list")
    context = {"endpoint": endpoint, "delivery_count": endpoint.deliveries.count()}
    return render(request, "notifications/webhook_delete.html", context)


@editor_required
@require_safe
def delivery_detail(request: HttpRequest, public_id: str, event_id: str) -> HttpResponse:
    endpoint = _endpoint(public_id)
    delivery = get_object_or_404(selectors.delivery_with_attempts(endpoint), event_id=event_id)
    try:
        payload = json.dumps(json.loads(delivery.body), indent=2, ensure_ascii=False)
    except ValueError:
        payload = delivery.body
    context = {"endpoint": endpoint, "delivery": delivery, "payload": payload}
    return render(request, "notifications/delivery_detail.html", context)


@editor_required
@require_POST
def delivery_resend(request: HttpRequest, public_id: str, event_id: str) -> HttpResponse:
    """Send the same event again now; back to the page the button was on."""
    endpoint = _endpoint(public_id)
    delivery = get_object_or_404(endpoint.deliveries, event_id=event_id)
    resend(delivery)
    messages.success(request, f"{delivery.event_type} {delivery.event_id} will be sent again now.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return HttpResponseRedirect(back)  # not redirect(): it would read "a:b" as a URL name to reverse
    return redirect("notifications:webhook_detail", endpoint.public_id)
