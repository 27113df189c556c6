"""The customer admin."""

from django import forms
from django.conf import settings
from django.contrib import admin

from billing import services
from billing.admin.base import ServiceAdmin, adopt, changed
from billing.admin.forms import currency_choices
from billing.models import Customer
from billing.payments.test_gateway import TEST_CARDS


class CustomerForm(forms.ModelForm):
    currency = forms.ChoiceField(choices=currency_choices, initial=settings.DEFAULT_CURRENCY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "default_payment_method" in self.fields:
            cards = "; ".join(f"{card.number}: {card.label}" for card in TEST_CARDS.values())
            self.fields["default_payment_method"].help_text = f"A test card. {cards}."


@admin.register(Customer)
class CustomerAdmin(ServiceAdmin):
    list_display = ("public_id", "name", "email", "currency", "default_payment_method", "created")
    list_display_links = ("public_id", "name")
    list_filter = ("currency",)
    search_fields = ("public_id", "name", "email")
    search_help_text = "Search by id, name or email."
    date_hierarchy = "created"
    form = CustomerForm
    add_fieldsets = ((None, {"fields": ("name", "email", "currency", "default_payment_method", "metadata")}),)
    fieldsets = (
        (None, {"fields": ("public_id", "name", "email", "currency", "default_payment_method", "metadata")}),
        ("Record", {"fields": ("created", "updated")}),
    )

    def editable_fields(self, obj):
        return ("name", "email", "default_payment_method", "metadata")

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
        )
        adopt(obj, customer)
