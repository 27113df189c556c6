"""The notifications admin: pages render, logs are read-only, secrets stay masked, actions resend."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.email import send_templated_email
from notifications.models import DeliveryAttempt, DeliveryStatus, EmailStatus, OutboundEmail, WebhookDelivery
from notifications.services.endpoints import endpoint_create, endpoint_roll_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def created(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]
    return endpoint_create(url="https://203.0.113.10/hook", enabled_events=["invoice.paid"], description="ERP")


def _delivery(endpoint, event_id="evt_admin1", **fields) -> WebhookDelivery:
    now = timezone.now()
    defaults = {
        "event_type": "invoice.paid", "body": f'{{"id": "{event_id}"}}', "status": DeliveryStatus.FAILED,
        "attempt_count": 1, "last_status_code": 500, "last_error": "Answered HTTP 500", "created": now, "failed_at": now, "retry_until": now + timedelta(days=3),
    }  # fmt: skip
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_id=event_id, **{**defaults, **fields})
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, started_at=now, duration_ms=12, status_code=500,
        response_excerpt="boom", error="Answered HTTP 500",
    )  # fmt: skip
    return delivery


def _email(status=EmailStatus.FAILED, to="ada@example.com", source="test") -> OutboundEmail:
    email = send_templated_email(to=[to], template="emails/test_message", context={"name": "Ada"}, source=source)
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=status, last_error="SMTP down" if status == "failed" else ""
    )
    email.refresh_from_db()
    return email


def _admin(name: str, *args) -> str:
    return reverse(f"admin:notifications_{name}", args=args)


def _action(client, model: str, action: str, objects):
    return client.post(
        _admin(f"{model}_changelist"), {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects]}, follow=True
    )


# --- endpoints ----------------------------------------------------------------------------------


def test_the_endpoint_pages_render_without_the_secrets_in_clear(admin_client, created):
    endpoint = endpoint_roll_secret(endpoint=created.endpoint, grace=timedelta(hours=1)).endpoint
    changelist = admin_client.get(_admin("webhookendpoint_changelist"))
    change = admin_client.get(_admin("webhookendpoint_change", endpoint.pk))
    assert changelist.status_code == change.status_code == 200
    assert "https://203.0.113.10/hook" in changelist.text
    assert endpoint.masked_secret in change.text
    for response in (changelist, change):
        assert endpoint.secret not in response.text and endpoint.previous_secret not in response.text
    assert 'name="url"' not in change.text and 'name="secret"' not in change.text
    assert reverse("notifications:webhook_detail", args=[endpoint.public_id]) in change.text


def test_endpoints_are_added_on_the_webhooks_page_not_in_the_admin(admin_client, created):
    assert admin_client.get(_admin("webhookendpoint_add")).status_code == 403


def test_the_endpoint_actions_disable_and_enable_through_the_service(admin_client, created):
    endpoint = created.endpoint
    _action(admin_client, "webhookendpoint", "disable", [endpoint])
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    _action(admin_client, "webhookendpoint", "enable", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.enabled


# --- deliveries ---------------------------------------------------------------------------------


def test_the_delivery_pages_render_read_only_with_their_attempts(admin_client, created):
    delivery = _delivery(created.endpoint)
    changelist = admin_client.get(_admin("webhookdelivery_changelist"))
    assert changelist.status_code == 200 and "evt_admin1" in changelist.text
    assert "By status" in changelist.text and "By event type" in changelist.text
    change = admin_client.get(_admin("webhookdelivery_change", delivery.pk))
    assert change.status_code == 200
    assert "boom" in change.text and "Answered HTTP 500" in change.text  # the attempt inline
    assert 'name="status"' not in change.text and 'name="attempts-0-error"' not in change.text
    assert created.secret not in change.text
    assert admin_client.get(_admin("webhookdelivery_add")).status_code == 403
    assert admin_client.post(_admin("webhookdelivery_change", delivery.pk), {"status": "succeeded"}).status_code == 403
    assert admin_client.get(_admin("webhookdelivery_delete", delivery.pk)).status_code == 403


def test_deliveries_can_be_searched_by_event_id_or_endpoint_url_and_filtered(admin_client, created):
    _delivery(created.endpoint, "evt_first")
    _delivery(created.endpoint, "evt_second", status=DeliveryStatus.SUCCEEDED)
    url = _admin("webhookdelivery_changelist")
    found = admin_client.get(url, {"q": "evt_first"}).text
    assert "evt_first" in found and "evt_second" not in found
    assert "evt_second" in admin_client.get(url, {"q": "203.0.113.10/hook"}).text
    filtered = admin_client.get(url, {"status__exact": "succeeded"}).text
    assert "evt_second" in filtered and "evt_first" not in filtered


def test_the_resend_action_sends_the_selected_deliveries_again(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(url=receiver.url, enabled_events=["invoice.paid"]).endpoint
    delivery = _delivery(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client, "webhookdelivery", "resend_deliveries", [delivery])
    assert "1 delivery queued to be sent again." in response.text
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempt_count == 2


def test_staff_who_may_only_view_get_no_resend_action(client, created):
    delivery = _delivery(created.endpoint)
    staff = User.objects.create_user("stan", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(staff)
    changelist = client.get(_admin("webhookdelivery_changelist"))
    assert changelist.status_code == 200 and "resend_deliveries" not in changelist.text
    _action(client, "webhookdelivery", "resend_deliveries", [delivery])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


# --- emails -------------------------------------------------------------------------------------


def test_the_email_pages_render_read_only(admin_client):
    email = _email()
    changelist = admin_client.get(_admin("outboundemail_changelist"))
    assert changelist.status_code == 200 and "Relance test email for Ada" in changelist.text
    change = admin_client.get(_admin("outboundemail_change", email.pk))
    assert change.status_code == 200
    assert "This is a test email from Relance." in change.text
    assert "&lt;strong&gt;test email&lt;/strong&gt;" in change.text  # the HTML shown as source
    assert 'name="subject"' not in change.text
    assert admin_client.get(_admin("outboundemail_add")).status_code == 403
    assert admin_client.post(_admin("outboundemail_change", email.pk), {"subject": "x"}).status_code == 403


def test_emails_can_be_searched_by_subject_recipient_or_source_and_filtered_by_status(admin_client):
    _email(to="ada@example.com", source="dunning")
    _email(status=EmailStatus.SENT, to="bob@example.com", source="welcome")
    url = _admin("outboundemail_changelist")
    for q, shown, hidden in [("bob@", "welcome", "dunning"), ("dunning", "dunning", "welcome")]:
        text = admin_client.get(url, {"q": q}).text
        assert shown in text and hidden not in text, q
    filtered = admin_client.get(url, {"status__exact": "sent"}).text
    assert "welcome" in filtered and "dunning" not in filtered


def test_the_resend_action_sends_failed_emails_again_and_leaves_the_others(
    admin_client, django_capture_on_commit_callbacks
):
    failed, sent = _email(), _email(status=EmailStatus.SENT, to="bob@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client, "outboundemail", "resend_emails", [failed, sent])
    assert "1 email(s) queued to be sent again." in response.text
    assert "1 email(s) not failed, left alone" in response.text
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    failed.refresh_from_db()
    assert failed.status == EmailStatus.SENT
