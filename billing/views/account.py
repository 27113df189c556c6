"""Settings → General: the default retry settings, the team email domains and the branding.
Editors change them, everyone sees them."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.branding import branding
from billing.forms import AccountSettingsForm
from billing.models import AccountSettings
from billing.services.account import account_settings_save
from billing.views.common import admin_url
from frame.permissions import editor_required, is_editor


@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save_account_settings(request)
    account = AccountSettings.load()
    form = AccountSettingsForm(instance=account) if is_editor(request.user) else None
    return _render(request, account, form)


@editor_required
def _save_account_settings(request: HttpRequest) -> HttpResponse:
    account = AccountSettings.load()
    form = AccountSettingsForm(request.POST, instance=account)
    if not form.is_valid():
        # The form wrote the submitted values onto `account`: the page shows the stored ones.
        return _render(request, AccountSettings.load(), form, status=400)
    account_settings_save(account=form.save(commit=False))
    messages.success(request, "Settings saved.")
    return redirect("settings")


def _render(
    request: HttpRequest, account: AccountSettings, form: AccountSettingsForm | None, status: int = 200
) -> HttpResponse:
    context = {
        "account": account,
        "form": form,
        "account_admin_url": admin_url(request, account),
        "branding": branding(account),
        "sender": settings.DEFAULT_FROM_EMAIL,
    }
    return render(request, "billing/settings.html", context, status=status)
