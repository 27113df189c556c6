"""Reads for the webhook and email pages. Every list query has a fixed number of joins, whatever the page size."""

from django.db.models import OuterRef, Q, QuerySet, Subquery

from notifications.models import EmailStatus, OutboundEmail, WebhookDelivery, WebhookEndpoint


def endpoint_list() -> QuerySet[WebhookEndpoint]:
    """Endpoints, newest first, each with the status and time of its latest delivery."""
    latest = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-created", "-id")
    return WebhookEndpoint.objects.annotate(
        last_delivery_status=Subquery(latest.values("status")[:1]),
        last_delivery_at=Subquery(latest.values("created")[:1]),
    ).order_by("-created", "-id")


def endpoint_deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, without their (possibly large) bodies."""
    return endpoint.deliveries.defer("body").order_by("-created", "-id")


def delivery_with_attempts(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """For get_object_or_404(…, event_id=…): the delivery with its attempts, newest first."""
    return endpoint.deliveries.select_related("endpoint").prefetch_related("attempts")


def email_list(*, q: str = "", status: str = "") -> QuerySet[OutboundEmail]:
    """The email log, newest first, without the bodies; `q` searches subject, recipients and source."""
    qs = OutboundEmail.objects.select_related("test_clock").defer("text_body", "html_body").order_by("-created", "-id")
    if status in EmailStatus.values:
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(Q(subject__icontains=q) | Q(recipients__icontains=q) | Q(source__icontains=q))
    return qs
