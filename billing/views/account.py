"""Account settings: editors change the defaults, everyone sees them."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing import selectors
from billing.forms import AccountSettingsForm
from billing.models import AccountSettings
from billing.permissions import editor_required, is_editor
from billing.views.common import admin_changelist_url, admin_url


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
        return _render(request, account, form)
    form.save()
    messages.success(request, "Settings saved.")
    return redirect("settings")


def _render(request: HttpRequest, account: AccountSettings, form: AccountSettingsForm | None) -> HttpResponse:
    context = {
        "account": account,
        "form": form,
        "account_admin_url": admin_url(request, account),
        "retry_policies": selectors.retry_policies(),
        "retry_policies_admin_url": admin_changelist_url(request, "billing", "retrypolicy"),
        "rates": selectors.exchange_rates(),
        "rates_admin_url": admin_changelist_url(request, "exchange", "rate"),
        "members": selectors.team_members(),
    }
    return render(request, "billing/settings.html", context)
