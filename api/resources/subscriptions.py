"""`/v1/subscriptions`: create, retrieve, update, cancel (DELETE) and list, through billing's
subscription services. The object is the event snapshot plus `latest_invoice`."""

from django.db import transaction
from ninja import Router

from api.encoding import known, metadata, params
from api.errors import invalid
from api.lists import PAGE_PARAMS, stripe_list
from api.resources.values import (
    boolean,
    choice,
    collection,
    found,
    indexed,
    integer,
    only,
    required,
    timestamp,
)
from billing import services
from billing.models import Customer, PauseBehavior, Price, Subscription, SubscriptionStatus
from billing.serializers import snapshot

router = Router(tags=["subscriptions"])

URL = "/v1/subscriptions"
MAX_ITEMS = 20


def subscriptions():
    return Subscription.objects.select_related("customer")


def serialize(subscription: Subscription) -> dict:
    latest = subscription.invoices.order_by("-created", "-id").values_list("public_id", flat=True).first()
    return snapshot(subscription) | {"latest_invoice": latest, "livemode": False}


def items_param(values: dict) -> list[tuple[Price, int]]:
    items = indexed(required(values, "items"), "items")
    if not items:
        invalid("Missing required param: items.", param="items")
    if len(items) > MAX_ITEMS:
        invalid(f"A subscription has at most {MAX_ITEMS} items.", param="items")
    result = []
    for n, item in enumerate(items):
        known(item, "price", "quantity", within=f"items[{n}]")
        price = found(
            Price.objects.select_related("product"),
            required(item, "price", f"items[{n}][price]"),
            "price",
            param=f"items[{n}][price]",
        )
        quantity = integer(item.get("quantity", 1), f"items[{n}][quantity]", minimum=1, maximum=1_000_000)
        result.append((price, quantity))
    return result


@router.post("", summary="Create a subscription")
def create(request):
    """Parameters: customer, items[n][price] and items[n][quantity] (recurring prices of one interval
    and currency), collection_method, days_until_due (send_invoice), cancel_at_period_end, metadata[key].
    Bills the first period at once (charged when collected automatically): see `latest_invoice`."""
    values = only(
        params(request),
        {"customer", "items", "collection_method", "days_until_due", "cancel_at_period_end", "metadata"},
    )
    customer = found(Customer.objects.all(), required(values, "customer"), "customer", param="customer")
    items = items_param(values)
    kwargs = collection(values)
    at_period_end = (
        boolean(values["cancel_at_period_end"], "cancel_at_period_end") if "cancel_at_period_end" in values else False
    )
    with transaction.atomic():
        subscription = services.subscription_create(
            customer=customer, items=items, metadata=metadata(values) or {}, **kwargs
        )
        if at_period_end:
            subscription = services.subscription_schedule_cancel(subscription=subscription, at_period_end=True)
    return serialize(subscriptions().get(pk=subscription.pk))


@router.get("/{id}", summary="Retrieve a subscription")
def retrieve(request, id: str):
    only(params(request), set())
    return serialize(found(subscriptions(), id, "subscription"))


def _cancel_at(subscription: Subscription, values: dict) -> Subscription:
    """`cancel_at` (a timestamp, or empty to withdraw) and `cancel_at_period_end` (true/false)."""
    if "cancel_at" in values and "cancel_at_period_end" in values:
        invalid("Give cancel_at or cancel_at_period_end, not both.", param="cancel_at")
    if "cancel_at" in values:
        if values["cancel_at"] == "":
            if subscription.cancel_at is None:
                return subscription
            return services.subscription_unschedule_cancel(subscription=subscription)
        at = timestamp(values["cancel_at"], "cancel_at")
        return services.subscription_schedule_cancel(subscription=subscription, at=at)
    if "cancel_at_period_end" in values:
        if boolean(values["cancel_at_period_end"], "cancel_at_period_end"):
            return services.subscription_schedule_cancel(subscription=subscription, at_period_end=True)
        if subscription.cancel_at_period_end:
            return services.subscription_unschedule_cancel(subscription=subscription)
    return subscription


def _pause(subscription: Subscription, value) -> Subscription:
    """`pause_collection[behavior]` (+ `[resumes_at]`) pauses; an empty `pause_collection` resumes."""
    if value == "":
        if subscription.status != SubscriptionStatus.PAUSED and subscription.pause_starts_at is None:
            return subscription
        return services.subscription_resume_collection(subscription=subscription)
    if not isinstance(value, dict):
        invalid(
            "Invalid pause_collection: give pause_collection[behavior], or an empty value to resume.",
            "pause_collection",
        )
    known(value, "behavior", "resumes_at", within="pause_collection")
    behavior = choice(
        required(value, "behavior", "pause_collection[behavior]"), "pause_collection[behavior]", PauseBehavior.values
    )
    resumes_at = None
    if value.get("resumes_at") not in (None, ""):
        resumes_at = timestamp(value["resumes_at"], "pause_collection[resumes_at]")
    return services.subscription_pause_collection(subscription=subscription, behavior=behavior, resumes_at=resumes_at)


@router.post("/{id}", summary="Update a subscription")
def update(request, id: str):
    """Parameters: cancel_at (a timestamp, or empty to withdraw), cancel_at_period_end,
    pause_collection[behavior] (keep_as_draft, mark_uncollectible, void) with pause_collection[resumes_at],
    or an empty pause_collection to resume; metadata[key] (an empty value removes the key),
    collection_method, days_until_due."""
    values = only(
        params(request),
        {"cancel_at", "cancel_at_period_end", "pause_collection", "metadata", "collection_method", "days_until_due"},
    )
    subscription = found(subscriptions(), id, "subscription")
    kwargs = collection(values, current=subscription.collection_method)
    with transaction.atomic():
        subscription = _cancel_at(subscription, values)
        if "pause_collection" in values:
            subscription = _pause(subscription, values["pause_collection"])
        if "metadata" in values:
            kwargs["metadata"] = metadata(values, subscription.metadata)
        if kwargs:
            subscription = services.subscription_update(subscription=subscription, **kwargs)
    return serialize(subscriptions().get(pk=subscription.pk))


@router.delete("/{id}", summary="Cancel a subscription")
def cancel(request, id: str):
    """Cancels now; its open invoices stop advancing."""
    only(params(request), {"invoice_now", "prorate"})
    subscription = found(subscriptions(), id, "subscription")
    if subscription.status == SubscriptionStatus.CANCELED:
        invalid(f"Subscription {subscription.public_id} is already canceled.")
    subscription = services.subscription_cancel(subscription=subscription)
    return serialize(subscriptions().get(pk=subscription.pk))


@router.get("", summary="List subscriptions")
def list_(request):
    """Filters: customer, status (a status, `ended`, or `all`; by default the ones not canceled)."""
    values = only(params(request), {"customer", "status", *PAGE_PARAMS})
    queryset = subscriptions()
    if values.get("customer"):
        customer = found(Customer.objects.all(), values["customer"], "customer", param="customer")
        queryset = queryset.filter(customer=customer)
    status = values.get("status") or None
    if status is None:  # Stripe's default: the subscriptions that have not been canceled
        queryset = queryset.exclude(status=SubscriptionStatus.CANCELED)
    elif status == "ended":
        queryset = queryset.filter(status=SubscriptionStatus.CANCELED)
    elif status != "all":
        queryset = queryset.filter(status=choice(status, "status", [*SubscriptionStatus.values, "ended", "all"]))
    return stripe_list(request, queryset, serialize, url=URL)
