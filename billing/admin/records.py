"""The admins of events (read-only), retry policies and the account settings."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

import audit
from billing.admin.base import ReadOnly
from billing.admin.forms import currency_choices
from billing.admin.scale import LargeTableAdmin, choices_filter
from billing.models import AccountSettings, Event, RetryPolicy
from billing.services.account import account_settings_save

# The `object` of the snapshots events carry (billing.events): the objects that have events.
OBJECT_TYPES = [("customer", "Customer"), ("invoice", "Invoice"), ("quote", "Quote"), ("subscription", "Subscription")]


@admin.register(Event)
class EventAdmin(ReadOnly, LargeTableAdmin):
    list_display = ("public_id", "type", "object_link", "customer_id", "created")
    list_filter = ("type", choices_filter("object_type", "object type", lambda: OBJECT_TYPES), "created")
    search_fields = ("public_id__startswith", "object_id__startswith", "customer_id__startswith", "type__startswith")
    search_help_text = "Search by the beginning of the event's id, its object's id, its customer's id or its type."
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

    # Saved by the admin itself: the audit log hears of it here (the settings page uses the services).
    def save_model(self, request, obj, form, change):
        before = audit.fields(RetryPolicy.objects.get(pk=obj.pk), *self.fields) if change else None
        super().save_model(request, obj, form, change)
        action = "retry_policy.updated" if change else "retry_policy.created"
        audit.record(action, obj, before=before, after=audit.fields(obj, *self.fields))

    def delete_model(self, request, obj):
        self.delete_queryset(request, RetryPolicy.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            gone = [(str(policy.pk), policy.name, audit.fields(policy, *self.fields)) for policy in queryset]
            queryset.delete()
            for pk, name, before in gone:
                audit.record("retry_policy.deleted", object_id=pk, label=name, before=before)


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
        ("Branding", {"fields": ("business_name", "support_email", "logo_url", "accent_color")}),
    )

    @admin.display(description="Default retry settings")
    def default_retry_schedule(self, obj):
        return obj.describe_schedule()

    def has_add_permission(self, request):
        return not AccountSettings.objects.exists()  # one row

    def save_model(self, request, obj, form, change):
        account_settings_save(account=obj)

    def has_delete_permission(self, request, obj=None):
        return False
