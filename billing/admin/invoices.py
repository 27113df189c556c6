"""The invoice admin, with its lines and payment attempts, and the payment attempt admin."""

from django.contrib import admin, messages

from billing import services
from billing.admin.base import (
    DraftLinesAdmin,
    LineInline,
    ReadOnly,
    ServiceAdmin,
    adopt,
    apply_each,
    changed,
    confirm_then,
    line_item,
    report,
    transition,
    unsaved_rows,
)
from billing.admin.forms import DocumentAddForm, currency_choices
from billing.admin.scale import LargeTableAdmin, choices_filter
from billing.models import Invoice, InvoiceLine, InvoiceStatus, PaymentAttempt, PaymentOutcome


class InvoiceLineInline(LineInline):
    model = InvoiceLine


class PaymentAttemptInline(ReadOnly, admin.TabularInline):
    model = PaymentAttempt
    fields = ("public_id", "created", "attempt_number", "amount", "outcome", "failure_code", "decline_type", "message")
    readonly_fields = fields
    extra = 0


@admin.register(Invoice)
class InvoiceAdmin(DraftLinesAdmin, LargeTableAdmin, ServiceAdmin):
    line_model = InvoiceLine
    recalculate = staticmethod(services.invoice_recalculate)
    list_display = (
        "__str__",
        "public_id",
        "customer",
        "status",
        "total",
        "amount_paid",
        "collection_method",
        "due_date",
        "attempt_count",
        "created",
    )
    list_filter = (
        "status",
        "collection_method",
        choices_filter("total_currency", "currency", currency_choices),
        "billing_reason",
        "auto_advance",
        "created",
    )
    list_select_related = ("customer",)
    search_fields = ("public_id__startswith", "number__icontains")
    search_related = {
        "customer": ("public_id__startswith", "name__icontains", "email__icontains"),
        "subscription": ("public_id__startswith",),
    }
    search_help_text = (
        "Search by the beginning of an id (the invoice's, its subscription's or its customer's), "
        "or part of the number or of the customer's name or email."
    )
    autocomplete_fields = ("customer", "retry_policy")
    add_form = DocumentAddForm
    add_fieldsets = (
        (
            None,
            {
                "fields": ("customer", "currency", "description", "metadata"),
                "description": "The invoice is created as a draft; finalize it with the “Finalize” action.",
            },
        ),
        ("Collection", {"fields": ("collection_method", "days_until_due", "due_date", "auto_advance", "retry_policy")}),
    )
    fieldsets = (
        (None, {"fields": ("public_id", "number", "customer", "subscription", "status", "billing_reason")}),
        ("Amounts", {"fields": ("currency", "total", "amount_paid", "amount_remaining", "paid_out_of_band")}),
        (
            "Collection",
            {
                "fields": (
                    "collection_method",
                    "days_until_due",
                    "due_date",
                    "auto_advance",
                    "retry_policy",
                    "attempt_count",
                    "first_failed_at",
                    "next_payment_attempt",
                )
            },
        ),
        ("Details", {"fields": ("description", "period_start", "period_end", "metadata")}),
        (
            "Timeline",
            {
                "fields": (
                    "created",
                    "finalized_at",
                    "paid_at",
                    "voided_at",
                    "marked_uncollectible_at",
                    "overdue_at",
                    "updated",
                )
            },
        ),
    )
    actions = ["finalize", "attempt_payment", "mark_paid", "void", "mark_uncollectible"]

    def get_inlines(self, request, obj):
        return [InvoiceLineInline] if obj is None else [InvoiceLineInline, PaymentAttemptInline]

    def editable_fields(self, obj):
        if obj.status in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN):
            return ("due_date", "auto_advance", "description", "metadata", "retry_policy")
        return ("metadata",)

    def save_model(self, request, obj, form, change):
        if change and (updates := changed(form, *self.editable_fields(obj))):
            services.invoice_update(invoice=obj, **updates)
        # A new invoice is created in save_related, once its lines are known.

    def save_related(self, request, form, formsets, change):
        invoice = form.instance
        if change:
            return self.save_changed_lines(request, form, formsets)
        data = form.cleaned_data
        created = services.invoice_create(
            customer=data["customer"],
            currency=data["currency"] or None,
            lines=[line_item(row) for row in unsaved_rows(formsets, InvoiceLine)],
            collection_method=data["collection_method"],
            days_until_due=data["days_until_due"],
            due_date=data["due_date"],
            auto_advance=data["auto_advance"],
            description=data["description"],
            metadata=data["metadata"],
            retry_policy=data["retry_policy"],
        )
        adopt(invoice, created)

    @transition("Finalize invoice", "Finalize selected invoices")
    def finalize(self, request, queryset):
        apply_each(self, request, queryset, services.invoice_finalize, done="finalized")

    @transition("Attempt payment", "Attempt payment of selected invoices")
    def attempt_payment(self, request, queryset):
        paid = 0
        for invoice, attempt in apply_each(self, request, queryset, services.invoice_attempt_payment):
            if attempt.outcome == PaymentOutcome.SUCCEEDED:
                paid += 1
            else:
                text = f"{invoice}: payment failed ({attempt.failure_code}): {attempt.message}"
                self.message_user(request, text, messages.WARNING)
        report(self, request, paid, "paid")

    @transition("Mark paid out of band", "Mark selected invoices paid out of band")
    def mark_paid(self, request, queryset):
        apply_each(self, request, queryset, services.invoice_mark_paid, done="marked paid out of band")

    @transition("Void invoice", "Void selected invoices")
    def void(self, request, queryset):
        return confirm_then(
            self,
            request,
            queryset,
            lambda data: apply_each(self, request, queryset, services.invoice_void, done="voided"),
            action="void",
            title="Void invoices",
            question="A void invoice is closed for good: it can no longer be paid. Void these invoices?",
        )

    @transition("Mark uncollectible", "Mark selected invoices uncollectible")
    def mark_uncollectible(self, request, queryset):
        return confirm_then(
            self,
            request,
            queryset,
            lambda data: apply_each(
                self, request, queryset, services.invoice_mark_uncollectible, done="marked uncollectible"
            ),
            action="mark_uncollectible",
            title="Mark invoices uncollectible",
            question="These invoices will be recorded as bad debt and no payment will be retried. "
            "They can still be paid or voided later.",
        )


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "public_id",
        "invoice",
        "attempt_number",
        "amount",
        "outcome",
        "failure_code",
        "decline_type",
        "created",
    )
    list_filter = ("outcome", "decline_type", "failure_code")
    list_select_related = ("invoice",)
    search_fields = ("public_id", "invoice__public_id", "invoice__number", "invoice__customer__email")
    search_help_text = "Search by id, invoice id or number, or customer email."
    date_hierarchy = "created"
