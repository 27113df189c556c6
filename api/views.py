"""Settings → API keys: everyone sees the keys (redacted); editors create and revoke them. A new key
is shown once, in the answer to the POST that made it: never in a URL, the session or a cache."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from api.forms import ApiKeyForm
from api.keys import ApiKeyError, api_key_create, api_key_list, api_key_revoke
from api.models import ApiKey
from frame.permissions import editor_required, is_editor


@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """The keys, and for editors the form that creates one (posted here)."""
    if request.method == "POST":
        return _create(request)
    return _render(request, ApiKeyForm() if is_editor(request.user) else None)


@editor_required
def _create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            new = api_key_create(
                name=form.cleaned_data["name"], read_only=form.cleaned_data["read_only"], user=request.user
            )
        except ApiKeyError as exc:
            form.add_error("name", exc.message)
        else:
            response = render(
                request, "api/api_key_created.html", {"api_key": new.api_key, "secret": new.secret}, status=201
            )
            add_never_cache_headers(response)  # the full key must not outlive this one page
            return response
    return _render(request, form, status=400)


def _render(request: HttpRequest, form: ApiKeyForm | None, status: int = 200) -> HttpResponse:
    return render(request, "api/api_keys.html", {"api_keys": api_key_list(), "form": form}, status=status)


@editor_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, public_id: str) -> HttpResponse:
    """GET asks for confirmation (the list asks in a dialog); the POST revokes."""
    api_key = get_object_or_404(ApiKey, public_id=public_id)
    if api_key.revoked_at is not None:
        messages.info(request, f"The key “{api_key.name}” ({api_key.redacted}) was already revoked.")
        return redirect("api_keys:list")
    if request.method != "POST":
        return render(request, "api/api_key_revoke.html", {"api_key": api_key})
    api_key_revoke(api_key=api_key, user=request.user)
    messages.success(request, f"Key “{api_key.name}” ({api_key.redacted}) revoked: requests with it are refused.")
    return redirect("api_keys:list")
