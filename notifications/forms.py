"""Forms of the webhook and email pages. The services judge URLs; the forms check the shape of the input."""

from datetime import timedelta

from django import forms
from django.conf import settings

from frame.lists import ListFilterForm
from notifications.event_types import AUTOMATION_EVENT_TYPES, WEBHOOK_EVENT_TYPES
from notifications.models import EmailStatus, WebhookEndpoint
from notifications.ssrf import UnsafeURL, check_url

BILLING_EVENT_CHOICES = [(key, key) for key in WEBHOOK_EVENT_TYPES if key not in AUTOMATION_EVENT_TYPES]
AUTOMATION_EVENT_CHOICES = [
    (key, f"{key} ({label.removesuffix(' (automation)')})") for key, label in AUTOMATION_EVENT_TYPES.items()
]
UNKNOWN_EVENT = {"invalid_choice": "“%(value)s” is not an event type Relance sends."}

# How long the old secret keeps signing after a roll; the service allows at most 7 days.
GRACE_PERIODS = {
    "0": ("Stop it now", timedelta(0)),
    "1h": ("For 1 hour", timedelta(hours=1)),
    "24h": ("For 24 hours", timedelta(hours=24)),
    "3d": ("For 3 days", timedelta(days=3)),
    "7d": ("For 7 days", timedelta(days=7)),
}


def url_help_text() -> str:
    """What the URL may be, with the hosts WEBHOOK_ALLOWED_HOSTS lets through now (read per form:
    the setting defaults to the local addresses under DEBUG only)."""
    allowed = [str(host) for host in getattr(settings, "WEBHOOK_ALLOWED_HOSTS", [])]
    text = (
        "An https address on the public internet. Redirects are not followed. "
        "Hosts listed in the WEBHOOK_ALLOWED_HOSTS setting are accepted as well, local addresses included, "
        "and over plain http too; with DEBUG on, the setting defaults to 127.0.0.1, localhost and ::1."
    )
    return f"{text} Now accepted: {', '.join(allowed)}." if allowed else f"{text} None is listed now."


class EndpointForm(forms.Form):
    """URL, description and event types of an endpoint, the event types in two groups.

    `endpoint_create`/`endpoint_update` decide whether the URL is safe to call, and their refusal
    is shown next to the field; the form checks it only when another field already failed.
    """

    url = forms.CharField(
        label="Endpoint URL",
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/relance", "autocomplete": "url"}),
    )
    description = forms.CharField(
        label="Description",
        max_length=300,
        required=False,
        help_text="Optional: what receives these events.",
    )
    all_events = forms.BooleanField(label="Send every event type", required=False)
    billing_events = forms.MultipleChoiceField(
        label="Billing events",
        choices=BILLING_EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages=UNKNOWN_EVENT,
    )
    automation_events = forms.MultipleChoiceField(
        label="Automation webhooks",
        choices=AUTOMATION_EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages=UNKNOWN_EVENT,
        help_text="Sent by automation steps, e.g. a few days before an invoice is due.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["url"].help_text = url_help_text()

    @classmethod
    def for_endpoint(cls, endpoint: WebhookEndpoint, data=None) -> "EndpointForm":
        events = set(endpoint.enabled_events)
        initial = {
            "url": endpoint.url,
            "description": endpoint.description,
            "billing_events": [value for value, _ in BILLING_EVENT_CHOICES if value in events],
            "automation_events": [value for value, _ in AUTOMATION_EVENT_CHOICES if value in events],
        }
        return cls(data, initial=initial)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("all_events"):
            cleaned["billing_events"] = [value for value, _ in BILLING_EVENT_CHOICES]
            cleaned["automation_events"] = [value for value, _ in AUTOMATION_EVENT_CHOICES]
        events_invalid = self.has_error("billing_events") or self.has_error("automation_events")
        if not events_invalid and not cleaned.get("billing_events") and not cleaned.get("automation_events"):
            self.add_error(None, "Choose at least one event type to send.")
        if self.errors and cleaned.get("url"):
            # The service, which judges the URL, will not run: say now what it would say, so that
            # every problem shows at once.
            try:
                check_url(cleaned["url"])
            except UnsafeURL as exc:
                self.add_error("url", str(exc))
        return cleaned

    @property
    def enabled_events(self) -> list[str]:
        return [*self.cleaned_data["billing_events"], *self.cleaned_data["automation_events"]]


class EnabledForm(forms.Form):
    """Turn sending on or off; the value is explicit so a repeated POST does not flip it back."""

    enabled = forms.TypedChoiceField(choices=[("1", "Enabled"), ("0", "Disabled")], coerce=lambda value: value == "1")


class RollSecretForm(forms.Form):
    grace = forms.ChoiceField(
        label="The old secret keeps signing",
        choices=[(key, label) for key, (label, _) in GRACE_PERIODS.items()],
        initial="24h",
        help_text="During this time each delivery carries two signatures, so receivers can switch without "
        "missing events.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    @property
    def grace_period(self) -> timedelta:
        return GRACE_PERIODS[self.cleaned_data["grace"]][1]


class EmailFilterForm(ListFilterForm):
    status_choices = EmailStatus.choices
