"""The billing object lists: search, status filter and pagination, updated in place by htmx."""

from django.http import HttpResponse
from django.views.decorators.http import require_safe

from billing import forms, selectors
from frame.htmx import HtmxHttpRequest
from frame.lists import ListPage, render_list

CUSTOMERS = ListPage("billing/customer_list.html", forms.CustomerFilterForm, selectors.customer_list)
INVOICES = ListPage("billing/invoice_list.html", forms.InvoiceFilterForm, selectors.invoice_list)
SUBSCRIPTIONS = ListPage("billing/subscription_list.html", forms.SubscriptionFilterForm, selectors.subscription_list)
QUOTES = ListPage("billing/quote_list.html", forms.QuoteFilterForm, selectors.quote_list)


@require_safe
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, CUSTOMERS)


@require_safe
def invoice_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, INVOICES)


@require_safe
def subscription_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, SUBSCRIPTIONS)


@require_safe
def quote_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, QUOTES)
