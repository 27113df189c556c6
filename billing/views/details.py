"""Detail pages of billing objects: their fields, lines, payments and events."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from billing import selectors
from billing.views.common import detail_context


@require_safe
def customer_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    customer = get_object_or_404(selectors.customer_detail_qs(), public_id=public_id)
    context = {**detail_context(request, customer), **selectors.customer_related(customer)}
    return render(request, "billing/customer_detail.html", context)


@require_safe
def invoice_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    invoice = get_object_or_404(selectors.invoice_detail_qs(), public_id=public_id)
    return render(request, "billing/invoice_detail.html", detail_context(request, invoice))


@require_safe
def subscription_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    subscription = get_object_or_404(selectors.subscription_detail_qs(), public_id=public_id)
    context = {**detail_context(request, subscription), "invoices": selectors.subscription_invoices(subscription)}
    return render(request, "billing/subscription_detail.html", context)


@require_safe
def quote_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    quote = get_object_or_404(selectors.quote_detail_qs(), public_id=public_id)
    return render(request, "billing/quote_detail.html", detail_context(request, quote))
