"""The billing object lists: search, status filter and pagination, updated in place by htmx."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property
from django.views.decorators.http import require_safe

from billing import forms, selectors
from billing.views.common import HtmxHttpRequest, wants_fragment

PAGE_SIZE = 25
COUNT_CAP = 1_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows: on a million invoices, counting every match of a broad
    search costs more than the page itself. Past the cap the page says "1,000+" and offers
    the pages up to it; a narrower search or filter finds the rest."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by().values("pk")[: COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP


@dataclass(frozen=True)
class ListPage:
    template: str
    form_class: type[forms.ListFilterForm]
    select: Callable[..., QuerySet]


def render_list(request: HtmxHttpRequest, page: ListPage) -> HttpResponse:
    """Render a list page, or only its `results` partial for an htmx swap.

    An unknown status is shown as a form error and ignored; `page` beyond the range, or not a
    number, gives the last or the first page.
    """
    form = page.form_class(request.GET)
    form.is_valid()
    filters = form.filters()
    page_obj = CappedPaginator(page.select(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = {name: value for name, value in filters.items() if value}
    context = {"form": form, "query": query, "page_obj": page_obj}
    template = f"{page.template}#results" if wants_fragment(request) else page.template
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


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
