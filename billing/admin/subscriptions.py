"""The subscription admin: created with its items, then changed by its transition actions."""

from django.contrib import admin
from django.db.models import Exists, OuterRef

from billing import services
from billing.admin.base import (
    CreationOnlyInline,
    ServiceAdmin,
    adopt,
    apply_each,
    changed,
    confirm_then,
    transition,
    unsaved_rows,
)
from billing.admin.forms import CancelAtForm, PauseCollectionForm, currency_choices
from billing.admin.scale import LargeTableAdmin, choices_filter
from billing.models import Interval, Subscription, SubscriptionItem, SubscriptionStatus


class SubscriptionItemInline(CreationOnlyInline):
    """Items are chosen when the subscription is created; no service changes them afterwards."""

    model = SubscriptionItem
    fields = ("price", "quantity")
    autocomplete_fields = ("price",)


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
class SubscriptionAdmin(LargeTableAdmin, ServiceAdmin):
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
    list_filter = (
        "status",
        "collection_method",
        IntervalFilter,
        choices_filter("currency", "currency", currency_choices),
        "cancel_at_period_end",
        "created",
    )
    list_select_related = ("customer",)
    search_fields = ("public_id__startswith",)
    search_related = {"customer": ("public_id__startswith", "name__icontains", "email__icontains")}
    search_help_text = "Search by the beginning of an id (the subscription's or its customer's), or part of the customer's name or email."
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
