"""The Django admin for billing objects: a thin shell over `billing.services`.

Statuses, transition timestamps and counters are read-only here. Adding and editing call the
create/update services, and each transition is an admin action that calls its service once per
selected object. A service that refuses (BillingError) becomes a message naming the object, or
the form shown again with the reason; never a server error.
"""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, helpers
from django.contrib.admin.utils import flatten_fieldsets, model_ngettext
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from billing import clock, services
from billing.errors import BillingError
from billing.models import (
    AccountSettings,
    Customer,
    Event,
    Interval,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    PauseBehavior,
    PaymentAttempt,
    PaymentOutcome,
    Price,
    Product,
    Quote,
    QuoteLine,
    QuoteStatus,
    RetryPolicy,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from billing.payments.test_gateway import TEST_CARDS
from billing.services import LineItem

CHANGE_FORM_ACTION = f"{ActionLocation.CHANGE_FORM.value}-action"


def currency_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in settings.CURRENCIES]


# --- Actions: one service call per selected object --------------------------------------------


def transition(description: str, description_plural: str):
    """An action on the change list and on each object's page, for users who may change objects."""
    return admin.action(
        description=description,
        description_plural=description_plural,
        permissions=["change"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )


def report(modeladmin, request, count: int, done: str) -> None:
    """One success message for all: "2 invoices voided"."""
    if count:
        noun = model_ngettext(modeladmin.opts, count)
        modeladmin.message_user(request, f"{count} {noun} {done}.", messages.SUCCESS)


def apply_each(modeladmin, request, queryset, service, *, done: str = "", **kwargs) -> list[tuple]:
    """Call `service` on each selected object separately and return (object, result) of the successes.

    A refusal (BillingError) becomes an error message naming the object and leaves the others
    alone; the successes are summed up in one message when `done` is given.
    """
    results = []
    for obj in queryset:
        try:
            results.append((obj, service(**{modeladmin.opts.model_name: obj}, **kwargs)))
        except BillingError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if done:
        report(modeladmin, request, len(results), done)
    return results


def confirm_then(
    modeladmin,
    request,
    queryset,
    perform,
    *,
    action: str,
    title: str,
    question: str,
    form_class: type[forms.Form] | None = None,
    button: str = "Yes, I’m sure",
):
    """Django's delete_selected pattern: an intermediate page that posts back to the same action.

    Until the page comes back confirmed (with its form, if any, valid) the page is returned to
    be shown; then `perform(cleaned_data)` runs and the admin goes back where the action started.
    """
    confirmed = request.POST.get("post") == "yes"
    form = form_class(request.POST if confirmed else None) if form_class else None
    if confirmed and (form is None or form.is_valid()):
        perform(form.cleaned_data if form else {})
        return None
    media = modeladmin.media + form.media if form else modeladmin.media
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "question": question,
        "button": button,
        "opts": modeladmin.opts,
        "queryset": queryset,
        "form": form,
        "media": media,
        "action_name": action,
        # An action started on an object's page posts back there, under the change form's prefix.
        "action_field": CHANGE_FORM_ACTION if CHANGE_FORM_ACTION in request.POST else "action",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/billing/action_confirmation.html", context)


class FutureDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs["help_text"] = f"{kwargs.get('help_text', '')} Time zone: {settings.TIME_ZONE}.".lstrip()
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and value <= clock.now():
            raise ValidationError("Choose a time in the future.")


class CancelAtForm(forms.Form):
    cancel_at = FutureDateTimeField(label="Cancel at")


class PauseCollectionForm(forms.Form):
    behavior = forms.ChoiceField(
        label="While paused",
        choices=PauseBehavior.choices,
        initial=PauseBehavior.KEEP_AS_DRAFT,
        help_text="What happens to the invoice of each period while collection is paused.",
    )
    starts_at = FutureDateTimeField(label="Pause from", required=False, help_text="Leave empty to pause now.")
    resumes_at = FutureDateTimeField(
        label="Resume on", required=False, help_text="Leave empty to pause until collection is resumed by hand."
    )

    def clean(self):
        data = super().clean()
        starts_at, resumes_at = data.get("starts_at"), data.get("resumes_at")
        if resumes_at and resumes_at <= (starts_at or clock.now()):
            self.add_error("resumes_at", "Collection must resume after the pause starts.")
        return data


# --- Saving through services ------------------------------------------------------------------


def changed(form, *fields: str) -> dict:
    """The cleaned values of those of `fields` the user changed."""
    return {name: form.cleaned_data[name] for name in fields if name in form.changed_data}


def adopt(obj, saved) -> None:
    """Turn the admin's unsaved `obj` into the row a create service saved.

    The admin goes on with its own instance (change message, log entry, redirect), so it takes
    over the saved row's state, primary key included.
    """
    vars(obj).update(vars(saved))


def unsaved_rows(formsets, model) -> list:
    """The rows entered in the inline of `model`, unsaved: the create service saves them."""
    rows = []
    for formset in formsets:
        # save(commit=False) also gives the admin's change message its list of added rows.
        new = formset.save(commit=False)
        if formset.model is model:
            rows = new
    return rows


def line_item(row) -> LineItem:
    return LineItem(
        price=row.price,
        product=row.product,
        quantity=row.quantity,
        description=row.description,
        unit_amount=row.unit_amount,
    )


class ServiceAdmin(admin.ModelAdmin):
    """A model admin whose saves go through billing services.

    The change form edits only `editable_fields(obj)`; everything else it shows is read-only.
    If a service refuses during the save, the view's transaction rolls back and the submitted
    form comes back with the service's reason.
    """

    add_form: type[forms.ModelForm] | None = None
    add_fieldsets: tuple | None = None

    def editable_fields(self, obj) -> tuple[str, ...]:
        return ()

    def get_fieldsets(self, request, obj=None):
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        editable = self.editable_fields(obj)
        return [name for name in flatten_fieldsets(self.fieldsets) if name not in editable]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and self.add_form is not None:
            kwargs.setdefault("form", self.add_form)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "billing_refusal", None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                super().clean()
                raise ValidationError(refusal)

        return RefusedForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BillingError as exc:
            # The save ran in the view's transaction, now rolled back: show the form again.
            request.billing_refusal = exc.message
            return super().changeform_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False  # no service deletes billing records; void or cancel them instead


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the services only: they can be looked at, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Customers --------------------------------------------------------------------------------


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


# --- Catalog: products and prices (no services; plain admin) ---------------------------------


class PriceInline(admin.TabularInline):
    model = Price
    fields = ("public_id", "nickname", "unit_amount", "interval", "active")
    readonly_fields = ("public_id",)
    extra = 1
    show_change_link = True


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "active", "created")
    list_filter = ("active",)
    search_fields = ("public_id", "name", "description")
    fields = ("public_id", "name", "description", "active", "metadata", "created")
    readonly_fields = ("public_id", "created")
    inlines = [PriceInline]


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("public_id", "product", "nickname", "unit_amount", "interval", "active", "created")
    list_filter = ("interval", "active", "unit_amount_currency")
    list_select_related = ("product",)
    search_fields = ("public_id", "nickname", "product__name", "product__public_id")
    search_help_text = "Search by id, nickname or product."
    fields = ("public_id", "product", "nickname", "unit_amount", "interval", "active", "created")
    readonly_fields = ("public_id", "created")
    autocomplete_fields = ("product",)


# --- Subscriptions ----------------------------------------------------------------------------


class SubscriptionItemInline(admin.TabularInline):
    """Items are chosen when the subscription is created; no service changes them afterwards."""

    model = SubscriptionItem
    fields = ("price", "quantity")
    autocomplete_fields = ("price",)
    can_delete = False

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def has_add_permission(self, request, obj):
        return obj is None

    def has_change_permission(self, request, obj=None):
        return obj is None


class IntervalFilter(admin.SimpleListFilter):
    title = "interval"
    parameter_name = "interval"

    def lookups(self, request, model_admin):
        return Interval.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        items = SubscriptionItem.objects.filter(subscription=OuterRef("pk"), price__interval=self.value())
        return queryset.filter(Exists(items))


@admin.register(Subscription)
class SubscriptionAdmin(ServiceAdmin):
    list_display = (
        "public_id",
        "customer",
        "status",
        "billing_interval",
        "collection_method",
        "current_period_end",
        "cancel_at",
        "paused_collection",
        "created",
    )
    list_filter = ("status", "collection_method", IntervalFilter, "currency", "cancel_at_period_end")
    list_select_related = ("customer",)
    search_fields = ("public_id", "customer__public_id", "customer__name", "customer__email")
    search_help_text = "Search by id, or the customer's id, name or email."
    date_hierarchy = "created"
    autocomplete_fields = ("customer",)
    inlines = [SubscriptionItemInline]
    add_fieldsets = (
        (
            None,
            {
                "fields": ("customer", "collection_method", "days_until_due", "metadata"),
                "description": "Saving starts the subscription and bills its first period now "
                "(charging the customer's payment method when collected automatically).",
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("public_id", "customer", "status", "currency", "metadata")}),
        (
            "Billing",
            {"fields": ("collection_method", "days_until_due", "current_period_start", "current_period_end")},
        ),
        (
            "Cancellation",
            {"fields": ("cancel_at", "cancel_at_period_end", "canceled_at", "ended_at", "cancellation_reason")},
        ),
        ("Paused collection", {"fields": ("pause_behavior", "pause_starts_at", "pause_resumes_at")}),
        ("Record", {"fields": ("created", "updated")}),
    )
    actions = [
        "cancel_now",
        "cancel_at_period_end",
        "cancel_at_date",
        "unschedule_cancel",
        "pause_collection",
        "resume_collection",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("items__price")

    def editable_fields(self, obj):
        if obj.status == SubscriptionStatus.CANCELED:
            return ("metadata",)
        return ("metadata", "collection_method", "days_until_due")

    @admin.display(description="Interval")
    def billing_interval(self, obj):
        return obj.interval or "—"

    @admin.display(description="Paused collection")
    def paused_collection(self, obj):
        if not obj.pause_behavior:
            return "—"
        text = obj.get_pause_behavior_display()
        if obj.status != SubscriptionStatus.PAUSED and obj.pause_starts_at:
            text += f" from {obj.pause_starts_at:%Y-%m-%d %H:%M}"
        if obj.pause_resumes_at:
            text += f" until {obj.pause_resumes_at:%Y-%m-%d %H:%M}"
        return text

    def save_model(self, request, obj, form, change):
        if change and (updates := changed(form, *self.editable_fields(obj))):
            services.subscription_update(subscription=obj, **updates)
        # A new subscription is created in save_related, once its items are known.

    def save_related(self, request, form, formsets, change):
        if change:
            return super().save_related(request, form, formsets, change)
        data = form.cleaned_data
        subscription = services.subscription_create(
            customer=data["customer"],
            items=[(row.price, row.quantity) for row in unsaved_rows(formsets, SubscriptionItem)],
            collection_method=data["collection_method"],
            days_until_due=data["days_until_due"],
            metadata=data["metadata"],
        )
        adopt(form.instance, subscription)

    @transition("Cancel subscription now", "Cancel selected subscriptions now")
    def cancel_now(self, request, queryset):
        return confirm_then(
            self,
            request,
            queryset,
            lambda data: apply_each(self, request, queryset, services.subscription_cancel, done="canceled"),
            action="cancel_now",
            title="Cancel subscriptions now",
            question="Canceling ends these subscriptions now: no more invoices, and their open invoices "
            "stop being collected automatically. This cannot be undone.",
        )

    @transition("Cancel at period end", "Cancel selected subscriptions at period end")
    def cancel_at_period_end(self, request, queryset):
        apply_each(
            self,
            request,
            queryset,
            services.subscription_schedule_cancel,
            at_period_end=True,
            done="scheduled to cancel at the end of the current period",
        )

    @transition("Cancel at a date…", "Cancel selected subscriptions at a date…")
    def cancel_at_date(self, request, queryset):
        def schedule(data):
            at = data["cancel_at"]
            done = f"scheduled to cancel on {at:%Y-%m-%d %H:%M}"
            apply_each(self, request, queryset, services.subscription_schedule_cancel, at=at, done=done)

        return confirm_then(
            self,
            request,
            queryset,
            schedule,
            action="cancel_at_date",
            title="Cancel subscriptions at a date",
            question="The subscriptions below will be canceled at the time you choose.",
            form_class=CancelAtForm,
            button="Schedule the cancellation",
        )

    @transition("Remove scheduled cancellation", "Remove scheduled cancellation of selected subscriptions")
    def unschedule_cancel(self, request, queryset):
        apply_each(
            self, request, queryset, services.subscription_unschedule_cancel, done="no longer scheduled to cancel"
        )

    @transition("Pause payment collection…", "Pause payment collection of selected subscriptions…")
    def pause_collection(self, request, queryset):
        def pause(data):
            starts_at = data["starts_at"]
            done = f"scheduled to pause on {starts_at:%Y-%m-%d %H:%M}" if starts_at else "paused"
            apply_each(
                self,
                request,
                queryset,
                services.subscription_pause_collection,
                behavior=data["behavior"],
                starts_at=starts_at,
                resumes_at=data["resumes_at"],
                done=done,
            )

        return confirm_then(
            self,
            request,
            queryset,
            pause,
            action="pause_collection",
            title="Pause payment collection",
            question="Payment collection of the subscriptions below will pause.",
            form_class=PauseCollectionForm,
            button="Pause collection",
        )

    @transition("Resume payment collection", "Resume payment collection of selected subscriptions")
    def resume_collection(self, request, queryset):
        apply_each(self, request, queryset, services.subscription_resume_collection, done="resumed")


# --- Invoices ---------------------------------------------------------------------------------


class LineForm(forms.ModelForm):
    """A line takes its description and amount from its price, unless they are given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("description", "unit_amount"):
            if name in self.fields:
                self.fields[name].required = False


class InvoiceLineInline(admin.TabularInline):
    """Lines can change while the invoice is a draft; the total is then recalculated."""

    model = InvoiceLine
    form = LineForm
    fields = ("price", "product", "description", "quantity", "unit_amount", "amount")
    readonly_fields = ("amount",)
    autocomplete_fields = ("price", "product")

    def _editable(self, obj) -> bool:
        return obj is None or obj.status == InvoiceStatus.DRAFT

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if self._editable(obj) else 0

    def has_add_permission(self, request, obj):
        return self._editable(obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and self._editable(obj)


class PaymentAttemptInline(admin.TabularInline):
    model = PaymentAttempt
    fields = ("public_id", "created", "attempt_number", "amount", "outcome", "failure_code", "decline_type", "message")
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def document_currency_field() -> forms.ChoiceField:
    return forms.ChoiceField(choices=[("", "The customer's currency"), *currency_choices()], required=False)


class InvoiceAddForm(forms.ModelForm):
    currency = document_currency_field()


@admin.register(Invoice)
class InvoiceAdmin(ServiceAdmin):
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
    list_filter = ("status", "collection_method", "total_currency", "billing_reason", "auto_advance")
    list_select_related = ("customer",)
    search_fields = (
        "public_id",
        "number",
        "description",
        "customer__public_id",
        "customer__name",
        "customer__email",
        "subscription__public_id",
    )
    search_help_text = "Search by id, number, description, subscription id, or the customer's id, name or email."
    date_hierarchy = "created"
    autocomplete_fields = ("customer", "retry_policy")
    add_form = InvoiceAddForm
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
            super().save_related(request, form, formsets, change)
            lines_changed = any(fs.model is InvoiceLine and fs.has_changed() for fs in formsets)
            if lines_changed and invoice.status == InvoiceStatus.DRAFT:
                services.invoice_recalculate(invoice=invoice)
            return
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

    def save_formset(self, request, form, formset, change):
        if formset.model is not InvoiceLine:
            return super().save_formset(request, form, formset, change)
        # Lines of a draft: complete each from its price like invoice_create does; the total is
        # recalculated by invoice_recalculate in save_related.
        for row in formset.save(commit=False):
            row.description, row.unit_amount, row.product = line_item(row).resolve()
            row.amount = row.unit_amount * row.quantity
            row.save()
        for row in formset.deleted_objects:
            row.delete()

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


# --- Quotes -----------------------------------------------------------------------------------


class QuoteLineInline(admin.TabularInline):
    """Lines are entered when the quote is created: no service recalculates a quote afterwards."""

    model = QuoteLine
    form = LineForm
    fields = ("price", "product", "description", "quantity", "unit_amount", "amount")
    readonly_fields = ("amount",)
    autocomplete_fields = ("price", "product")
    can_delete = False

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def has_add_permission(self, request, obj):
        return obj is None

    def has_change_permission(self, request, obj=None):
        return obj is None


class QuoteAddForm(forms.ModelForm):
    currency = document_currency_field()


@admin.register(Quote)
class QuoteAdmin(ServiceAdmin):
    list_display = ("__str__", "public_id", "customer", "status", "total", "expires_at", "created")
    list_filter = ("status", "total_currency")
    list_select_related = ("customer",)
    search_fields = ("public_id", "number", "description", "customer__public_id", "customer__name", "customer__email")
    search_help_text = "Search by id, number, description, or the customer's id, name or email."
    date_hierarchy = "created"
    autocomplete_fields = ("customer",)
    inlines = [QuoteLineInline]
    add_form = QuoteAddForm
    add_fieldsets = (
        (
            None,
            {
                "fields": ("customer", "currency", "expires_at", "description", "metadata"),
                "description": "The quote is created as a draft; its lines cannot change once it is saved.",
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
            return super().save_related(request, form, formsets, change)
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


# --- Records written by the services ----------------------------------------------------------


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
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


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "type", "object_link", "customer_id", "created")
    list_filter = ("type", "object_type")
    search_fields = ("public_id", "object_id", "customer_id", "type")
    search_help_text = "Search by event id, object id, customer id or type."
    date_hierarchy = "created"
    fields = ("public_id", "type", "created", "object_type", "object_link", "customer_id", "payload")
    readonly_fields = fields

    @admin.display(description="Object", ordering="object_id")
    def object_link(self, obj):
        try:
            url = reverse(f"admin:billing_{obj.object_type}_changelist")
        except NoReverseMatch:
            return obj.object_id
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"q": obj.object_id}), obj.object_id)

    @admin.display(description="Payload")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.as_payload(), indent=2, ensure_ascii=False))


# --- Retry policies and account settings ------------------------------------------------------


class RetryScheduleForm(forms.ModelForm):
    def clean_day_offsets(self):
        return self.cleaned_data["day_offsets"] or []


@admin.register(RetryPolicy)
class RetryPolicyAdmin(admin.ModelAdmin):
    form = RetryScheduleForm
    list_display = ("name", "schedule", "end_behavior", "created")
    list_filter = ("schedule_kind", "end_behavior")
    search_fields = ("name",)
    fields = ("name", "schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior")

    @admin.display(description="Schedule")
    def schedule(self, obj):
        return obj.describe_schedule()


class AccountSettingsForm(RetryScheduleForm):
    default_currency = forms.ChoiceField(choices=currency_choices)

    def clean_team_email_domains(self):
        domains = self.cleaned_data["team_email_domains"] or []
        if not isinstance(domains, list) or not all(isinstance(d, str) and d.strip() for d in domains):
            raise ValidationError('List the domains as text, e.g. ["acme.com"].')
        return [d.strip().lower().lstrip("@") for d in domains]


@admin.register(AccountSettings)
class AccountSettingsAdmin(admin.ModelAdmin):
    form = AccountSettingsForm
    list_display = ("__str__", "default_currency", "default_retry_schedule", "end_behavior", "updated")
    fieldsets = (
        (None, {"fields": ("default_currency", "team_email_domains")}),
        (
            "Default retry settings",
            {"fields": ("schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior")},
        ),
    )

    @admin.display(description="Default retry settings")
    def default_retry_schedule(self, obj):
        return obj.describe_schedule()

    def has_add_permission(self, request):
        return not AccountSettings.objects.exists()  # one row

    def has_delete_permission(self, request, obj=None):
        return False
