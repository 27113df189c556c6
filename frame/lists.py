"""List pages: a search and status filter, capped counting, pages of 25, an htmx results swap."""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property

from frame.htmx import HtmxHttpRequest, wants_fragment

_ANY = [("", "Any status")]


class ListFilterForm(forms.Form):
    """Search and status filter of a list page; an unknown status is reported and ignored."""

    status_choices: list[tuple[str, str]] = []

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, label="Status")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = _ANY + self.status_choices

    def filters(self) -> dict[str, str]:
        """The valid filters only (call after is_valid())."""
        return {name: self.cleaned_data.get(name) or "" for name in ("q", "status")}


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
    form_class: type[ListFilterForm]
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
