"""Change lists that stay fast on a million rows (issue 17: p95 ≤ 100 ms at 1M invoices).

- No full count: `show_full_result_count = False`, and the dashboard's paginator, which counts at
  most COUNT_CAP + 1 matches; past the cap the list says "more than 1,000" and offers the pages up
  to it (templates/admin/pagination.html, search_form.html and actions.html say so).
- Searches an index serves. `search_fields` name explicit lookups on this table's indexed columns
  (`public_id__startswith` reads the `_like` btree; `name__icontains` a trigram index of
  billing 0003). `search_related` matches a related row's columns. One query reads the ids each
  table finds, then the list matches them by id (`billing.selectors.any_match`): one `OR`
  across a join would read the whole table. An id is matched by its beginning (Stripe's
  dashboard finds an object by its whole id; a prefix finds that too), a number, name or email
  by any part; an invoice's description is no longer searched (no index serves it).
- No date hierarchy (its year links are a DISTINCT over every matching row) and no facets (a
  count per filter choice): a date filter ("Today", "Past 7 days", …) takes the hierarchy's place.
- `list_select_related` for every related column shown, set on each admin.
- Pages of 25 rows, as the dashboard's: the admin's rendering costs about 1 ms a row on our
  2-core machine (cProfile: `items_for_result`), so its default of 100 alone broke the target.
"""

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Q
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext as _

from billing.selectors import any_match
from frame import lists
from frame.lists import PAGE_SIZE, CappedPaginator


def search_terms(search_term: str) -> list[str]:
    """The words of a search, as Django's admin splits them ("quoted phrases" kept whole)."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit:
            terms.append(bit)
    return terms


class AdminPaginator(CappedPaginator):
    """The dashboard's capped paginator, with the cap as the admin's templates show it."""

    @property
    def cap_shown(self) -> str:
        return f"{lists.COUNT_CAP:,}"


def any_of(lookups: tuple[str, ...], term: str) -> Q:
    """`term` through any of `lookups`."""
    condition = Q()
    for lookup in lookups:
        condition |= Q(**{lookup: term})
    return condition


class LargeTableAdmin(admin.ModelAdmin):
    """A model admin for a table of up to millions of rows: see the module's docstring."""

    show_full_result_count = False
    paginator = AdminPaginator
    list_per_page = PAGE_SIZE
    show_facets = admin.ShowFacets.NEVER
    # {foreign key: lookups on the related model}, e.g. {"customer": ("name__icontains",)}
    search_related: dict[str, tuple[str, ...]] = {}

    def term_condition(self, term: str) -> Q:
        """The rows one search word finds: any of `search_fields`, or a matching related row."""
        related = {}
        for name, lookups in self.search_related.items():
            model = self.model._meta.get_field(name).related_model
            related[name] = model._default_manager.filter(any_of(lookups, term))
        return any_match(self.model, [Q(**{lookup: term}) for lookup in self.search_fields], related)

    def action_checkbox(self, obj):
        # Django's own renders a widget through the form renderer's template: a fifth of a row's
        # rendering time (cProfile of the invoice list). The same HTML, written directly.
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )

    def get_search_results(self, request, queryset, search_term):
        for term in search_terms(search_term):
            queryset = queryset.filter(self.term_condition(term))
        return queryset, False  # no lookup here spans a multi-valued relation: no duplicates

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None and getattr(cl.paginator, "capped", False):
            response.context_data["selection_note_all"] = f"All selected (more than {cl.paginator.cap_shown})"
        return response


def choices_filter(field_name: str, title: str, choices) -> type[admin.SimpleListFilter]:
    """A list filter offering the known values of `field_name` (`choices()` gives (value, label)
    pairs). Django's default for a field without choices lists its distinct values, a read of the
    whole table; the parameter keeps Django's name (`currency__exact=USD`)."""

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = f"{field_name}__exact"

        def lookups(self, request, model_admin):
            return choices()

        def queryset(self, request, queryset):
            return queryset.filter(**{field_name: self.value()}) if self.value() else queryset

    ChoicesFilter.title = title
    return ChoicesFilter
