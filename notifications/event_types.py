"""The event types a webhook endpoint can subscribe to."""

from billing.models import EventType

AUTOMATION_EVENT_TYPES = {
    "invoice.will_be_due": "Invoice will be due (automation)",
    "quote.will_expire": "Quote will expire (automation)",
    "customer.subscription.custom_event": "Subscription custom event (automation)",
}

WEBHOOK_EVENT_TYPES: dict[str, str] = {value: value for value in EventType.values} | AUTOMATION_EVENT_TYPES


def event_type_choices() -> list[tuple[str, str]]:
    return [(key, key) for key in WEBHOOK_EVENT_TYPES]
