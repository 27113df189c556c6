"""The admin of webhooks and emails: a window on the logs. Endpoints are made on Settings → Webhooks (where
the secret is shown once); deliveries and emails are written by the senders only. Secrets never appear
here in full."""

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from billing.admin.base import ReadOnly
from notifications import delivery as webhook_delivery
from notifications import email as outbound
from notifications.models import DeliveryAttempt, EmailStatus, OutboundEmail, WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import endpoint_delete, endpoint_set_enabled


def _pre(text: str):
    return format_html('<pre class="payload">{}</pre>', text)


class PayloadBoxes:
    """The style of the `_pre` boxes, from a file: the Content-Security-Policy refuses style attributes."""

    @property
    def media(self):
        return super().media + forms.Media(css={"all": ["css/admin.css"]})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Look, enable or disable, delete. Adding and editing happen on the Webhooks page, through the services."""

    list_display = ("url", "description", "enabled", "events", "created")
    list_filter = ("enabled",)
    search_fields = ("url", "description", "public_id")
    fields = (
        "public_id",
        "url",
        "description",
        "enabled",
        "enabled_events",
        "signing_secret",
        "previous_secret_expires_at",
        "created",
        "updated",
        "manage",
    )
    readonly_fields = fields
    actions = ["enable", "disable"]

    @admin.display(description="Events")
    def events(self, obj):
        return len(obj.enabled_events)

    @admin.display(description="Signing secret")
    def signing_secret(self, obj):
        return obj.masked_secret

    @admin.display(description="Manage")
    def manage(self, obj):
        url = reverse("notifications:webhook_detail", args=[obj.public_id])
        return format_html('<a href="{}">Edit, roll the secret or resend on the Webhooks page</a>', url)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            endpoint_set_enabled(endpoint=endpoint, enabled=True)
        self.message_user(request, f"{len(queryset)} endpoint(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request, queryset):
        for endpoint in queryset:
            endpoint_set_enabled(endpoint=endpoint, enabled=False)
        self.message_user(request, f"{len(queryset)} endpoint(s) disabled.", messages.SUCCESS)

    def delete_model(self, request, obj):
        endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            endpoint_delete(endpoint=endpoint)


class DeliveryAttemptInline(ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "duration_ms", "status_code", "succeeded", "response_excerpt", "error")
    readonly_fields = fields
    extra = 0


class ResendAction:
    """An admin action that sends again, for users who may change the records (superusers, or the permission)."""

    def has_resend_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PayloadBoxes, ResendAction, ReadOnly, admin.ModelAdmin):
    list_display = (
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created",
    )
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("event_id", "endpoint__url")
    search_help_text = "Search by event id or endpoint URL."
    date_hierarchy = "created"
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempt_count",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "claimed_until",
        "created",
        "delivered_at",
        "failed_at",
        "payload",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["resend_deliveries"]

    @admin.display(description="Payload")
    def payload(self, obj):
        try:
            return _pre(json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False))
        except ValueError:
            return _pre(obj.body)

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend_deliveries(self, request, queryset):
        count = 0
        for delivery in queryset:
            webhook_delivery.resend(delivery)
            count += 1
        self.message_user(
            request, f"{count} deliver{'y' if count == 1 else 'ies'} queued to be sent again.", messages.SUCCESS
        )


@admin.register(OutboundEmail)
class OutboundEmailAdmin(PayloadBoxes, ResendAction, ReadOnly, admin.ModelAdmin):
    list_display = ("subject", "to", "status", "attempt_count", "source", "created", "sent_at")
    list_filter = ("status",)
    search_fields = ("subject", "recipients", "source", "public_id")
    search_help_text = "Search by subject, recipient, source or id."
    date_hierarchy = "created"
    fields = (
        "public_id",
        "subject",
        "from_email",
        "to",
        "status",
        "attempt_count",
        "last_error",
        "next_attempt_at",
        "created",
        "sent_at",
        "failed_at",
        "source",
        "template",
        "idempotency_key",
        "text",
        "html_source",
    )
    readonly_fields = fields
    actions = ["resend_emails"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.defer("text_body", "html_body")
        return queryset

    @admin.display(description="To")
    def to(self, obj):
        return ", ".join(obj.recipients)

    @admin.display(description="Text version")
    def text(self, obj):
        return _pre(obj.text_body)

    @admin.display(description="HTML version (source)")
    def html_source(self, obj):
        return _pre(obj.html_body) if obj.html_body else "—"

    @admin.action(description="Send selected failed emails again", permissions=["resend"])
    def resend_emails(self, request, queryset):
        sent_again = skipped = 0
        for email in queryset:
            if email.status == EmailStatus.FAILED:
                outbound.resend(email)
                sent_again += 1
            else:
                skipped += 1
        if sent_again:
            self.message_user(request, f"{sent_again} email(s) queued to be sent again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} email(s) not failed, left alone: only failed emails are sent again.",
                messages.WARNING,
            )
