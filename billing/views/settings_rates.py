"""Settings → Exchange rates: the stored rates amounts are converted with (amount filters of
automations, totals). Everyone sees them; editors add, change and delete them."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.forms import ExchangeRateForm
from billing.models import AccountSettings
from billing.services import exchange_rates as services
from frame.permissions import editor_required, is_editor


@require_http_methods(["GET", "POST"])
def exchange_rates(request: HttpRequest) -> HttpResponse:
    """The rates, and for editors a form to add a rate or change one (`?currency=USD` fills it in)."""
    if request.method == "POST":
        return _set_rate(request)
    form = None
    if is_editor(request.user):
        form = ExchangeRateForm(initial=_initial(request.GET.get("currency")))
    return _render(request, form)


def _initial(currency) -> dict:
    if not isinstance(currency, str) or not services.CURRENCY_CODE.fullmatch(currency):
        return {}
    rate = services.exchange_rate_list().filter(currency=currency).first()
    return {"currency": currency, "value": rate.value if rate else None}


@editor_required
def _set_rate(request: HttpRequest) -> HttpResponse:
    form = ExchangeRateForm(request.POST)
    if form.is_valid():
        try:
            rate = services.exchange_rate_set(currency=form.cleaned_data["currency"], value=form.cleaned_data["value"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Rate saved: 1 {rate.backend.base_currency} = {rate.value.normalize():f} {rate.currency}."
            )
            return redirect("settings_exchange_rates")
    return _render(request, form, status=400)


def _render(request: HttpRequest, form: ExchangeRateForm | None, status: int = 200) -> HttpResponse:
    backend = services.rate_backend()
    context = {
        "rates": services.exchange_rate_list(),
        "base_currency": backend.base_currency if backend else AccountSettings.load().default_currency,
        "form": form,
        "currency_codes": settings.CURRENCIES,
    }
    return render(request, "billing/settings_rates.html", context, status=status)


@editor_required
@require_http_methods(["GET", "POST"])
def exchange_rate_delete(request: HttpRequest, currency: str) -> HttpResponse:
    """GET asks for confirmation (the list page asks in a dialog); the POST deletes."""
    rate = services.exchange_rate_list().filter(currency=currency).first()
    if rate is None:
        raise Http404("No rate for this currency.")
    if request.method != "POST":
        return render(request, "billing/settings_rate_delete.html", {"rate": rate})
    services.exchange_rate_delete(currency=rate.currency)
    messages.success(request, f"Rate for {rate.currency} deleted: amounts in {rate.currency} are no longer converted.")
    return redirect("settings_exchange_rates")
