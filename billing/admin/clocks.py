"""The test clock admin: clocks are created through `clock_create` and deleted through
`clock_delete` (with everything of their customers); an advance is asked for on the clock's own
page in the dashboard, which the admin links to."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from billing.admin.base import ReadOnly, ServiceAdmin, adopt
from billing.admin.forms import FutureDateTimeField
from billing.errors import DomainError
from billing.models import ClockAdvance, Customer, Invoice, Quote, Subscription, TestClock
from billing.services.test_clocks import MAX_CUSTOMERS, clock_create, clock_delete


def clock_page_url(test_clock: TestClock) -> str:
    """The clock's page in the dashboard ("" while the clock pages are not mounted)."""
    try:
        return reverse("test_clock_detail", args=[test_clock.public_id])
    except NoReverseMatch:
        return ""


class TestClockAddForm(forms.ModelForm):
    # A start in the past is fine too (Stripe's clocks start anywhere): only the format is checked.
    frozen_time = forms.DateTimeField(
        label="Start time",
        widget=FutureDateTimeField.widget,
        help_text="The moment the clock's customers start at; only moves forward afterwards.",
    )

    class Meta:
        model = TestClock
        fields = ("name", "frozen_time")


class ClockAdvanceInline(ReadOnly, admin.TabularInline):
    model = ClockAdvance
    fields = ("from_time", "to_time", "status", "moments", "error", "requested_at", "finished_at", "requested_by")
    readonly_fields = fields
    extra = 0


@admin.register(TestClock)
class TestClockAdmin(ServiceAdmin):
    list_display = ("name", "public_id", "frozen_time", "status", "customer_count", "clock_page")
    list_display_links = ("name",)
    list_filter = ("status",)
    search_fields = ("public_id", "name")
    search_help_text = "Search by id or name."
    add_form = TestClockAddForm
    add_fieldsets = ((None, {"fields": ("name", "frozen_time")}),)
    fieldsets = (
        (
            None,
            {
                "fields": ("public_id", "name", "frozen_time", "status", "failure", "customer_count", "clock_page"),
                "description": "Advance the clock from its page in the dashboard.",
            },
        ),
        ("Record", {"fields": ("created",)}),
    )
    readonly_fields = ("customer_count", "clock_page")
    inlines = [ClockAdvanceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_total=Count("customers"))

    def get_inlines(self, request, obj):
        return [] if obj is None else [ClockAdvanceInline]

    @admin.display(description="Customers", ordering="customer_total")
    def customer_count(self, obj):
        count = getattr(obj, "customer_total", None)
        if count is None:
            count = obj.customers.count()
        url = reverse("admin:billing_customer_changelist") + f"?test_clock={obj.public_id}"
        return format_html('<a href="{}">{} of {}</a>', url, count, MAX_CUSTOMERS)

    @admin.display(description="Clock page")
    def clock_page(self, obj):
        url = clock_page_url(obj)
        return format_html('<a href="{}">Open the clock page (advance it there)</a>', url) if url else "—"

    def has_change_permission(self, request, obj=None):
        # Nothing on a clock is edited here: its time moves only by advances, on its page.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        adopt(obj, clock_create(name=data["name"], frozen_time=data["frozen_time"]))

    # --- Deleting: always through clock_delete, which takes the customers' objects with it --------

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def get_deleted_objects(self, objs, request):
        """What a deletion takes, in counts: the collector would stop at the customers' invoices
        (protected), which clock_delete deletes first."""
        clocks = list(objs)
        on_clocks = {"customer__test_clock__in": clocks}
        model_count = {
            "test clocks": len(clocks),
            "customers": Customer.objects.filter(test_clock__in=clocks).count(),
            "subscriptions": Subscription.objects.filter(**on_clocks).count(),
            "invoices": Invoice.objects.filter(**on_clocks).count(),
            "quotes": Quote.objects.filter(**on_clocks).count(),
        }
        to_delete = [
            f"Test clock: {clock} with its customers, their subscriptions, invoices, quotes, events, "
            "automation runs and emails"
            for clock in clocks
        ]
        return to_delete, model_count, set(), []

    def delete_model(self, request, obj):
        clock_delete(test_clock=obj)

    def delete_queryset(self, request, queryset):
        # All or none: one clock that cannot go (advancing) leaves every selected clock in place.
        with transaction.atomic():
            for test_clock in queryset:
                clock_delete(test_clock=test_clock)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:billing_testclock_change", args=[object_id]))

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except DomainError as exc:  # the delete action refused: nothing was deleted
            self.message_user(request, f"Nothing deleted: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
