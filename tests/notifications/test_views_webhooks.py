"""Settings → Webhooks: editors only, the secret shown once, service refusals inline, deliveries and Resend."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from notifications.forms import AUTOMATION_EVENT_CHOICES, BILLING_EVENT_CHOICES
from notifications.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import endpoint_create
from notifications.ssrf import UnsafeURL, check_url
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db

HOOK_URL = "https://203.0.113.10/hook"


@pytest.fixture
def allowed(settings):
    """A TEST-NET address allowed as a webhook host; nothing is sent there (on_commit does not run)."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]


@pytest.fixture
def endpoint(allowed) -> WebhookEndpoint:
    return endpoint_create(url=HOOK_URL, enabled_events=["invoice.voided"], description="Accounting").endpoint


def _delivery(endpoint, n: int = 1, **fields) -> WebhookDelivery:
    now = timezone.now()
    defaults = {
        "event_id": f"evt_test{n:04d}",
        "event_type": "invoice.voided",
        "body": '{"id": "evt_test", "type": "invoice.voided"}',
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": now + timedelta(minutes=5),
        "created": now - timedelta(seconds=n),
        "retry_until": now + timedelta(days=3),
    }
    return WebhookDelivery.objects.create(endpoint=endpoint, **{**defaults, **fields})


def _url(name: str, *args) -> str:
    return reverse(f"notifications:{name}", args=args)


def _add(client, **data):
    return client.post(_url("webhook_add"), {"url": HOOK_URL, "billing_events": ["invoice.paid"], **data})


def _field_errors(response, field: str) -> str:
    """The text of the error list rendered next to `field`."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.text, re.S)
    return match.group(1) if match else ""


def _void_an_invoice(django_capture_on_commit_callbacks):
    invoice = make_invoice(status="open")
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=invoice)
    return invoice


# --- who may look -------------------------------------------------------------------------------


def _every_page_and_action(endpoint) -> list[tuple[str, str, dict]]:
    delivery = _delivery(endpoint)
    pid, evt = endpoint.public_id, delivery.event_id
    return [
        ("get", _url("webhook_list"), {}),
        ("get", _url("webhook_add"), {}),
        ("post", _url("webhook_add"), {"url": HOOK_URL, "billing_events": ["invoice.paid"]}),
        ("get", _url("webhook_detail", pid), {}),
        ("get", _url("webhook_edit", pid), {}),
        ("post", _url("webhook_edit", pid), {"url": HOOK_URL, "billing_events": ["invoice.paid"]}),
        ("post", _url("webhook_set_enabled", pid), {"enabled": "0"}),
        ("post", _url("webhook_roll_secret", pid), {"grace": "0"}),
        ("get", _url("webhook_delete", pid), {}),
        ("post", _url("webhook_delete", pid), {}),
        ("get", _url("delivery_detail", pid, evt), {}),
        ("post", _url("delivery_resend", pid, evt), {}),
    ]


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_anyone_but_an_editor_is_refused_every_webhook_page_and_action(client, endpoint, request, role):
    client.force_login(request.getfixturevalue(role))
    secret = endpoint.secret
    for method, url, data in _every_page_and_action(endpoint):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
        assert secret not in response.text
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.secret == secret
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookDelivery.objects.get().attempt_count == 0


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client, endpoint):
    response = client.get(_url("webhook_detail", endpoint.public_id))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_settings_page_links_to_webhooks_for_editors_and_to_the_email_log_for_all(client, editor, viewer):
    client.force_login(editor)
    text = client.get(reverse("settings")).text
    assert _url("webhook_list") in text and _url("email_list") in text
    client.force_login(viewer)
    text = client.get(reverse("settings")).text
    assert _url("webhook_list") not in text and _url("email_list") in text


# --- the list -----------------------------------------------------------------------------------


def test_an_empty_list_explains_webhooks_and_how_to_verify_signatures(editor_client):
    response = editor_client.get(_url("webhook_list"))
    assert response.status_code == 200
    assert "No webhook endpoints yet." in response.text
    assert "Stripe-Signature" in response.text and "stripe.Webhook.construct_event" in response.text
    assert _url("webhook_add") in response.text


def test_the_list_shows_each_endpoint_with_its_events_state_and_last_delivery(editor_client, endpoint):
    _delivery(endpoint, 1, status=DeliveryStatus.FAILED)
    _delivery(endpoint, 2, status=DeliveryStatus.SUCCEEDED)  # older
    quiet = endpoint_create(url="https://203.0.113.10/other", enabled_events=["invoice.paid", "quote.created"])
    quiet.endpoint.enabled = False
    quiet.endpoint.save()
    response = editor_client.get(_url("webhook_list"))
    text = response.text
    assert HOOK_URL in text and "Accounting" in text and "https://203.0.113.10/other" in text
    assert 'badge-failed">Failed' in text  # the newest delivery of the first endpoint
    assert "Disabled" in text and "None yet" in text
    assert endpoint.secret not in text and quiet.secret not in text


def test_the_list_keeps_a_bounded_number_of_queries(editor_client, allowed, django_assert_max_num_queries):
    for n in range(30):
        created = endpoint_create(url=f"https://203.0.113.10/hook/{n}", enabled_events=["invoice.paid"])
        _delivery(created.endpoint, n)
    with django_assert_max_num_queries(6):
        response = editor_client.get(_url("webhook_list"))
    assert response.text.count("/hook/") >= 30


def test_list_and_detail_pages_refuse_other_methods(editor_client, endpoint):
    assert editor_client.post(_url("webhook_list")).status_code == 405
    assert editor_client.post(_url("webhook_detail", endpoint.public_id)).status_code == 405
    assert editor_client.get(_url("webhook_set_enabled", endpoint.public_id)).status_code == 405
    assert editor_client.get(_url("webhook_roll_secret", endpoint.public_id)).status_code == 405


# --- adding -------------------------------------------------------------------------------------


def test_the_add_form_groups_billing_events_and_automation_webhooks_with_labels(editor_client):
    response = editor_client.get(_url("webhook_add"))
    text = response.text
    assert response.status_code == 200
    assert "<legend>Billing events</legend>" in text and "<legend>Automation webhooks</legend>" in text
    assert 'value="invoice.will_be_due"' in text and 'value="customer.subscription.custom_event"' in text
    assert 'value="invoice.voided"' in text
    assert 'for="id_url"' in text and 'for="id_all_events"' in text


def test_an_editor_adds_an_endpoint_and_sees_its_full_secret_once_then_masked(editor_client, allowed):
    response = _add(editor_client, description="ERP", automation_events=["invoice.will_be_due"])
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("webhook_detail", endpoint.public_id)
    assert endpoint.url == HOOK_URL and endpoint.description == "ERP"
    assert endpoint.enabled_events == ["invoice.paid", "invoice.will_be_due"]

    first = editor_client.get(response["Location"])
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in first.text
    assert "not shown again" in first.text
    assert "no-store" in first["Cache-Control"]

    again = editor_client.get(response["Location"])
    assert endpoint.secret not in again.text
    assert endpoint.masked_secret in again.text


def test_the_new_secret_is_not_spent_by_an_htmx_page_change(editor_client, allowed):
    response = _add(editor_client)
    endpoint = WebhookEndpoint.objects.get()
    fragment = editor_client.get(response["Location"], {"page": "1"}, headers={"HX-Request": "true"})
    assert 'id="results"' in fragment.text and "<html" not in fragment.text
    assert endpoint.secret not in fragment.text
    assert endpoint.secret in editor_client.get(response["Location"]).text


def test_send_every_event_type_subscribes_to_all_of_them(editor_client, allowed):
    _add(editor_client, billing_events=[], all_events="on")
    expected = {value for value, _ in BILLING_EVENT_CHOICES + AUTOMATION_EVENT_CHOICES}
    assert set(WebhookEndpoint.objects.get().enabled_events) == expected


def test_a_refused_url_is_explained_next_to_the_field_and_nothing_is_created(editor_client, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeURL) as refusal:
        check_url("http://10.0.0.1/x")
    response = _add(editor_client, url="http://10.0.0.1/x", description="Internal")
    assert response.status_code == 400
    assert str(refusal.value) in _field_errors(response, "url")
    assert 'value="http://10.0.0.1/x"' in response.text and 'value="Internal"' in response.text
    assert 'value="invoice.paid" aria-invalid' not in response.text
    assert WebhookEndpoint.objects.count() == 0


def test_a_refused_url_and_missing_events_are_both_reported_at_once(editor_client, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = _add(editor_client, url="ftp://example.com/x", billing_events=[])
    assert response.status_code == 400
    assert "https" in _field_errors(response, "url")
    assert "Choose at least one event type to send." in response.text
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"billing_events": ["invoice.exploded"]}, "billing_events", "“invoice.exploded” is not an event type"),
        ({"automation_events": ["invoice.paid"]}, "automation_events", "“invoice.paid” is not an event type"),
        ({"billing_events": []}, None, "Choose at least one event type to send."),
        ({"url": ""}, "url", "This field is required."),
        ({"url": "https://203.0.113.10/" + "x" * 2100}, "url", "at most 2048 characters"),
        ({"description": "d" * 301}, "description", "at most 300 characters"),
    ],
)
def test_bad_input_re_renders_the_form_with_a_message_and_creates_nothing(editor_client, allowed, data, field, message):
    response = _add(editor_client, **data)
    assert response.status_code == 400
    if field:
        assert message in _field_errors(response, field)
    else:
        assert message in response.text
    assert WebhookEndpoint.objects.count() == 0


# --- the endpoint page --------------------------------------------------------------------------


def test_the_endpoint_page_shows_its_settings_with_the_secret_masked(editor_client, endpoint):
    response = editor_client.get(_url("webhook_detail", endpoint.public_id))
    text = response.text
    assert response.status_code == 200
    assert HOOK_URL in text and "Accounting" in text and "invoice.voided" in text
    assert endpoint.masked_secret in text and endpoint.secret not in text
    assert "No deliveries yet." in text


def test_an_editor_edits_the_url_description_and_events(editor_client, endpoint):
    form = editor_client.get(_url("webhook_edit", endpoint.public_id))
    checked = re.findall(r'<input type="checkbox" name="\w+" value="([\w.]+)" id="[\w]+" checked>', form.text)
    assert checked == ["invoice.voided"]
    assert f'value="{HOOK_URL}"' in form.text and 'value="Accounting"' in form.text
    response = editor_client.post(
        _url("webhook_edit", endpoint.public_id),
        {"url": "https://203.0.113.10/v2", "description": "New", "billing_events": ["invoice.paid"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.enabled_events) == (
        "https://203.0.113.10/v2",
        "New",
        ["invoice.paid"],
    )


def test_a_refused_edit_keeps_the_endpoint_as_it_was(editor_client, endpoint, settings):
    response = editor_client.post(
        _url("webhook_edit", endpoint.public_id), {"url": "ftp://example.com/x", "billing_events": ["invoice.paid"]}
    )
    assert response.status_code == 400
    assert "https" in _field_errors(response, "url")
    endpoint.refresh_from_db()
    assert endpoint.url == HOOK_URL and endpoint.enabled_events == ["invoice.voided"]


def test_an_editor_disables_and_enables_an_endpoint_without_javascript(editor_client, endpoint):
    url = _url("webhook_set_enabled", endpoint.public_id)
    response = editor_client.post(url, {"enabled": "0"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "Endpoint disabled" in editor_client.get(response["Location"]).text
    editor_client.post(url, {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_toggling_with_htmx_swaps_in_the_new_state(editor_client, endpoint):
    response = editor_client.post(
        _url("webhook_set_enabled", endpoint.public_id), {"enabled": "0"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'id="endpoint-state"' in response.text and "<html" not in response.text
    assert "Enable endpoint" in response.text
    endpoint.refresh_from_db()
    assert not endpoint.enabled


@pytest.mark.parametrize("data", [{}, {"enabled": "maybe"}, {"enabled": "true"}])
def test_a_malformed_toggle_is_a_bad_request(editor_client, endpoint, data):
    response = editor_client.post(_url("webhook_set_enabled", endpoint.public_id), data)
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_rolling_the_secret_with_grace_shows_the_new_one_once_and_keeps_the_old_one_signing(editor_client, endpoint):
    old = endpoint.secret
    response = editor_client.post(_url("webhook_roll_secret", endpoint.public_id), {"grace": "24h"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert timedelta(hours=23) < endpoint.previous_secret_expires_at - timezone.now() <= timedelta(hours=24)

    page = editor_client.get(response["Location"])
    assert endpoint.secret in page.text and old not in page.text
    assert "The old one keeps signing too until" in page.text
    assert "Still signing too, until" in page.text
    assert endpoint.secret not in editor_client.get(response["Location"]).text


def test_rolling_the_secret_now_drops_the_old_one(editor_client, endpoint):
    editor_client.post(_url("webhook_roll_secret", endpoint.public_id), {"grace": "0"})
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == "" and endpoint.previous_secret_expires_at is None
    page = editor_client.get(_url("webhook_detail", endpoint.public_id))
    assert "The old one no longer signs deliveries." in page.text
    assert "Still signing too" not in page.text


@pytest.mark.parametrize("grace", ["", "forever", "8d", "-1h", "3600"])
def test_a_malformed_grace_period_is_refused_and_the_secret_is_kept(editor_client, endpoint, grace):
    old = endpoint.secret
    response = editor_client.post(_url("webhook_roll_secret", endpoint.public_id), {"grace": grace})
    assert response.status_code == 400
    assert _field_errors(response, "grace")
    endpoint.refresh_from_db()
    assert endpoint.secret == old


def test_delete_asks_for_confirmation_and_only_the_confirming_post_deletes(editor_client, endpoint):
    _delivery(endpoint)
    url = _url("webhook_delete", endpoint.public_id)
    confirm = editor_client.get(url)
    assert confirm.status_code == 200
    assert "Delete this endpoint?" in confirm.text and "1 delivery" in confirm.text
    assert WebhookEndpoint.objects.count() == 1
    response = editor_client.post(url)
    assert response.status_code == 302 and response["Location"] == _url("webhook_list")
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    assert "deleted" in editor_client.get(response["Location"]).text


def test_unknown_endpoints_and_deliveries_are_not_found(editor_client, endpoint):
    delivery = _delivery(endpoint)
    missing = "we_doesnotexist"
    for method, url in [
        ("get", _url("webhook_detail", missing)),
        ("get", _url("webhook_edit", missing)),
        ("post", _url("webhook_set_enabled", missing)),
        ("post", _url("webhook_roll_secret", missing)),
        ("post", _url("webhook_delete", missing)),
        ("get", _url("delivery_detail", missing, delivery.event_id)),
        ("get", _url("delivery_detail", endpoint.public_id, "evt_nope")),
        ("post", _url("delivery_resend", endpoint.public_id, "evt_nope")),
    ]:
        assert getattr(editor_client, method)(url, {"enabled": "1", "grace": "0"}).status_code == 404, url


def test_a_delivery_of_another_endpoint_is_not_found_under_this_one(editor_client, endpoint):
    other = endpoint_create(url="https://203.0.113.10/other", enabled_events=["invoice.paid"]).endpoint
    delivery = _delivery(other)
    assert editor_client.get(_url("delivery_detail", endpoint.public_id, delivery.event_id)).status_code == 404


# --- deliveries ---------------------------------------------------------------------------------


def test_a_delivery_to_the_receiver_is_listed_and_resend_sends_it_again(
    editor_client, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(url=receiver.url, enabled_events=["invoice.voided"]).endpoint
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1

    page = editor_client.get(_url("webhook_detail", endpoint.public_id))
    assert delivery.event_id in page.text and "invoice.voided" in page.text
    assert 'badge-succeeded">Succeeded' in page.text and "HTTP 200" in page.text

    back = _url("webhook_detail", endpoint.public_id) + "?page=1"
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("delivery_resend", endpoint.public_id, delivery.event_id), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    delivery.refresh_from_db()
    assert delivery.attempt_count == 2 and delivery.status == DeliveryStatus.SUCCEEDED
    assert "will be sent again" in editor_client.get(back).text


def test_resend_does_not_redirect_to_another_site(editor_client, endpoint):
    delivery = _delivery(endpoint)
    response = editor_client.post(
        _url("delivery_resend", endpoint.public_id, delivery.event_id), {"next": "https://evil.example/"}
    )
    assert response["Location"] == _url("webhook_detail", endpoint.public_id)


def test_resend_with_a_next_that_looks_like_a_url_name_redirects_to_it_as_a_path(editor_client, endpoint):
    delivery = _delivery(endpoint)
    response = editor_client.post(
        _url("delivery_resend", endpoint.public_id, delivery.event_id), {"next": "2026-02-30T25:61"}
    )
    assert response.status_code == 302 and response["Location"] == "2026-02-30T25:61"


def test_a_failing_delivery_shows_its_error_and_next_retry(editor_client, receiver, django_capture_on_commit_callbacks):
    endpoint = endpoint_create(url=receiver.url, enabled_events=["invoice.voided"]).endpoint
    receiver.answers = [503]
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    page = editor_client.get(_url("webhook_detail", endpoint.public_id)).text
    assert "Answered HTTP 503" in page and 'badge-pending">Pending' in page
    assert delivery.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") in page


def test_the_delivery_page_lists_each_attempt_with_its_answer(
    editor_client, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(url=receiver.url, enabled_events=["invoice.voided"]).endpoint
    receiver.answers = [500]
    invoice = _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(_url("delivery_resend", endpoint.public_id, delivery.event_id))
    response = editor_client.get(_url("delivery_detail", endpoint.public_id, delivery.event_id))
    text = response.text
    assert response.status_code == 200
    assert "HTTP 500" in text and "receiver says no" in text and "Answered HTTP 500" in text
    assert "HTTP 200" in text and "{&quot;received&quot;: true}" in text
    assert text.count('<td class="num">1</td>') == 1 and text.count('<td class="num">2</td>') == 1
    assert invoice.public_id in text  # the payload


def test_deliveries_are_paginated_25_a_page_with_a_bounded_number_of_queries(
    editor_client, endpoint, django_assert_max_num_queries
):
    for n in range(30):
        _delivery(endpoint, n)
    with django_assert_max_num_queries(8):
        first = editor_client.get(_url("webhook_detail", endpoint.public_id))
    assert first.text.count(">Resend</button>") == 25
    assert "page 1 of 2" in first.text
    second = editor_client.get(_url("webhook_detail", endpoint.public_id), {"page": "2"})
    assert "page 2 of 2" in second.text and "evt_test0029" in second.text
    assert editor_client.get(_url("webhook_detail", endpoint.public_id), {"page": "x"}).status_code == 200
