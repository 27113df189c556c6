"""Detail pages of billing objects: their fields, lines, payments, events, automation runs and,
for editors, the transitions their state allows."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from billing import selectors
from billing.forms import TransitionForm
from billing.views.common import detail_context
from billing.views.controls import controls


@dataclass(frozen=True)
class DetailPage:
    template: str
    queryset: Callable[[], QuerySet]
    related: Callable[[Model], dict] = lambda obj: {}


PAGES: dict[str, DetailPage] = {
    "customer": DetailPage("billing/customer_detail.html", selectors.customer_detail_qs, selectors.customer_related),
    "invoice": DetailPage(
        "billing/invoice_detail.html",
        selectors.invoice_detail_qs,
        lambda invoice: {"retry_hold": selectors.retry_hold_note(invoice)},
    ),
    "subscription": DetailPage(
        "billing/subscription_detail.html",
        selectors.subscription_detail_qs,
        lambda subscription: {"invoices": selectors.subscription_invoices(subscription)},
    ),
    "quote": DetailPage("billing/quote_detail.html", selectors.quote_detail_qs),
}


def get_detail_object(kind: str, public_id: str):
    return get_object_or_404(PAGES[kind].queryset(), public_id=public_id)


def render_detail(
    request: HttpRequest,
    obj,
    *,
    status: int = 200,
    error: str = "",
    failed: str = "",
    bound_form: TransitionForm | None = None,
) -> HttpResponse:
    """The object's page; after a refused transition, with its error (and its form) shown."""
    page = PAGES[obj._meta.model_name]
    context = {
        **detail_context(request, obj),
        **page.related(obj),
        "transitions": controls(request, obj, failed=failed, bound_form=bound_form),
        "transition_error": error,
    }
    return render(request, page.template, context, status=status)


@require_safe
def customer_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return render_detail(request, get_detail_object("customer", public_id))


@require_safe
def invoice_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return render_detail(request, get_detail_object("invoice", public_id))


@require_safe
def subscription_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return render_detail(request, get_detail_object("subscription", public_id))


@require_safe
def quote_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    return render_detail(request, get_detail_object("quote", public_id))
