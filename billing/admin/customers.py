"""The customer admin."""

from django import forms
from django.conf import settings
from django.contrib import admin

from billing import services
from billing.admin.base import ServiceAdmin, adopt, changed
from billing.admin.forms import currency_choices
from billing.admin.scale import LargeTableAdmin, choices_filter
from billing.models import Customer, TestClock
from billing.payments.test_gateway import TEST_CARDS
from billing.services.test_clocks import MAX_CUSTOMERS


class CustomerForm(forms.ModelForm):
    currency = forms.ChoiceField(choices=currency_choices, initial=settings.DEFAULT_CURRENCY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "default_payment_method" in self.fields:
            cards = "; ".join(f"{card.number}: {card.label}" for card in TEST_CARDS.values())
            self.fields["default_payment_method"].help_text = f"A test card. {cards}."
        if "test_clock" in self.fields:
            self.fields["test_clock"].help_text = (
                f"Optional. The customer lives at the clock's time, and so does everything of theirs "
                f"(at most {MAX_CUSTOMERS} customers per clock)."
            )


class OnTestClockFilter(admin.SimpleListFilter):
    title = "on a test clock"
    parameter_name = "test_clock"

    ANY, NONE = "any", "none"

    def lookups(self, request, model_admin):
        clocks = TestClock.objects.order_by("name").values_list("public_id", "name")
        return [(self.ANY, "On any test clock"), (self.NONE, "Not on a test clock"), *clocks]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.ANY:
            return queryset.filter(test_clock__isnull=False)
        if value == self.NONE:
            return queryset.filter(test_clock__isnull=True)
        if value:
            return queryset.filter(test_clock_id=value)
        return queryset


FIELDS = ("name", "email", "currency", "preferred_locale", "default_payment_method", "metadata", "test_clock")


@admin.register(Customer)
class CustomerAdmin(LargeTableAdmin, ServiceAdmin):
    list_display = ("public_id", "name", "email", "currency", "default_payment_method", "test_clock", "created")
    list_display_links = ("public_id", "name")
    list_filter = (choices_filter("currency", "currency", currency_choices), OnTestClockFilter, "created")
    list_select_related = ("test_clock",)
    search_fields = ("public_id__startswith", "name__icontains", "email__icontains")
    search_help_text = "Search by the beginning of an id, or part of a name or email."
    form = CustomerForm
    add_fieldsets = ((None, {"fields": FIELDS}),)
    fieldsets = (
        (None, {"fields": ("public_id", *FIELDS)}),
        ("Record", {"fields": ("created", "updated")}),
    )

    def editable_fields(self, obj):
        return ("name", "email", "preferred_locale", "default_payment_method", "metadata")

    def save_model(self, request, obj, form, change):
        if change:
            if updates := changed(form, *self.editable_fields(obj)):
                services.customer_update(customer=obj, **updates)
            return
        data = form.cleaned_data
        customer = services.customer_create(
            name=data["name"],
            email=data["email"],
            currency=data["currency"],
            metadata=data["metadata"],
            default_payment_method=data["default_payment_method"],
            test_clock=data.get("test_clock"),
            preferred_locale=data.get("preferred_locale", ""),
        )
        adopt(obj, customer)
