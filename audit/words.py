"""How the log's rows read: object types in words, actions in words, and the page each object has."""

import json

from django.urls import NoReverseMatch, reverse

# Object types, in the order the "what" filter offers them.
OBJECT_TYPES = {
    "automation": "Automation",
    "run": "Automation run",
    "account": "Settings",
    "retry_policy": "Retry policy",
    "exchange_rate": "Exchange rate",
    "webhook_endpoint": "Webhook endpoint",
    "api_key": "API key",
    "user": "Team member",
    "customer": "Customer",
    "product": "Product",
    "price": "Price",
    "subscription": "Subscription",
    "invoice": "Invoice",
    "invoice_item": "Invoice item",
    "quote": "Quote",
    "test_clock": "Test clock",
}

# Where an object of a type is shown: (url name, whether it takes the object id, editors only).
_PAGES = {
    "automation": ("automation_detail", True, False),
    "account": ("settings", False, False),
    "retry_policy": ("settings_retry_policies", False, False),
    "exchange_rate": ("settings_exchange_rates", False, False),
    "webhook_endpoint": ("notifications:webhook_detail", True, True),
    "api_key": ("api_keys:list", False, False),
    "user": ("settings_team", False, False),
    "customer": ("customer_detail", True, False),
    "subscription": ("subscription_detail", True, False),
    "invoice": ("invoice_detail", True, False),
    "quote": ("quote_detail", True, False),
    "test_clock": ("test_clock_detail", True, False),
}
_GONE = {"deleted"}  # after these actions the object has no page any more


def type_label(object_type: str) -> str:
    return OBJECT_TYPES.get(object_type) or object_type.replace("_", " ").capitalize()


# Actions whose words do not follow from their name.
_ACTIONS = {
    "account.updated": "Settings changed",
    "subscription.cancel_scheduled": "Subscription cancellation scheduled",
    "subscription.cancel_unscheduled": "Subscription cancellation withdrawn",
    "user.role_changed": "Team member's access changed",
    "webhook_endpoint.secret_rolled": "Webhook signing secret rolled",
    "invoice.payment_attempted": "Invoice payment attempted",
}


def action_label(action: str, object_type: str) -> str:
    """ "invoice.marked_uncollectible" reads "Invoice marked uncollectible"."""
    if action in _ACTIONS:
        return _ACTIONS[action]
    verb = action.removeprefix(f"{object_type}.").replace("_", " ").replace(".", " ")
    return f"{type_label(object_type)} {verb}"


def editors_only(object_type: str) -> bool:
    """Whether only editors may open the object's page (viewers see no link)."""
    return _PAGES.get(object_type, ("", False, False))[2]


def object_url(object_type: str, object_id: str, action: str) -> str | None:
    """The object's page, or None when it has none (or is gone)."""
    page = _PAGES.get(object_type)
    if page is None or action.rpartition(".")[2] in _GONE or not object_id:
        return None
    name, takes_id, _ = page
    try:
        return reverse(name, args=[object_id] if takes_id else [])
    except NoReverseMatch:
        return None


def value_text(values: dict, name: str) -> str:
    """One before/after value as the page shows it."""
    if name not in values:
        return "—"
    value = values[name]
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False) if value else "none"
    return str(value) if value != "" else "empty"
