"""The quote admin: created with its lines, then finalized, accepted or canceled."""

from django.contrib import admin

from billing import services
from billing.admin.base import (
    DraftLinesAdmin,
    LineInline,
    ServiceAdmin,
    adopt,
    apply_each,
    changed,
    confirm_then,
    line_item,
    transition,
    unsaved_rows,
)
from billing.admin.forms import DocumentAddForm
from billing.models import Quote, QuoteLine, QuoteStatus


class QuoteLineInline(LineInline):
    model = QuoteLine


@admin.register(Quote)
class QuoteAdmin(DraftLinesAdmin, ServiceAdmin):
    line_model = QuoteLine
    recalculate = staticmethod(services.quote_recalculate)
    list_display = ("__str__", "public_id", "customer", "status", "total", "expires_at", "created")
    list_filter = ("status", "total_currency")
    list_select_related = ("customer",)
    search_fields = ("public_id", "number", "description", "customer__public_id", "customer__name", "customer__email")
    search_help_text = "Search by id, number, description, or the customer's id, name or email."
    date_hierarchy = "created"
    autocomplete_fields = ("customer",)
    inlines = [QuoteLineInline]
    add_form = DocumentAddForm
    add_fieldsets = (
        (
            None,
            {
                "fields": ("customer", "currency", "expires_at", "description", "metadata"),
                "description": "The quote is created as a draft; its lines can change until it is finalized.",
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("public_id", "number", "customer", "status", "total", "invoice")}),
        ("Details", {"fields": ("expires_at", "description", "metadata", "cancellation_reason")}),
        ("Timeline", {"fields": ("created", "finalized_at", "accepted_at", "canceled_at", "updated")}),
    )
    actions = ["finalize", "accept", "cancel"]

    def editable_fields(self, obj):
        if obj.status in (QuoteStatus.DRAFT, QuoteStatus.OPEN):
            return ("expires_at", "description", "metadata")
        return ()

    def save_model(self, request, obj, form, change):
        if change and (updates := changed(form, *self.editable_fields(obj))):
            services.quote_update(quote=obj, **updates)
        # A new quote is created in save_related, once its lines are known.

    def save_related(self, request, form, formsets, change):
        if change:
            return self.save_changed_lines(request, form, formsets)
        data = form.cleaned_data
        quote = services.quote_create(
            customer=data["customer"],
            currency=data["currency"] or None,
            lines=[line_item(row) for row in unsaved_rows(formsets, QuoteLine)],
            expires_at=data["expires_at"],
            description=data["description"],
            metadata=data["metadata"],
        )
        adopt(form.instance, quote)

    @transition("Finalize quote", "Finalize selected quotes")
    def finalize(self, request, queryset):
        apply_each(self, request, queryset, services.quote_finalize, done="finalized")

    @transition("Accept quote", "Accept selected quotes")
    def accept(self, request, queryset):
        apply_each(self, request, queryset, services.quote_accept, done="accepted (each with a draft invoice)")

    @transition("Cancel quote", "Cancel selected quotes")
    def cancel(self, request, queryset):
        return confirm_then(
            self,
            request,
            queryset,
            lambda data: apply_each(self, request, queryset, services.quote_cancel, done="canceled"),
            action="cancel",
            title="Cancel quotes",
            question="A canceled quote can no longer be accepted. Cancel these quotes?",
        )
