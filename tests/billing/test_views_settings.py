"""The settings page: editors change the account defaults, viewers only see them."""

from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from billing.models import AccountSettings, RetryPolicy

pytestmark = pytest.mark.django_db

VALID = {
    "default_currency": "USD",
    "schedule_kind": "day_offsets",
    "max_retries": "4",
    "within_days": "14",
    "day_offsets": "1, 3, 7",
    "end_behavior": "cancel_subscription",
    "team_email_domains": "Acme.com, @acme.co.uk",
}


def _post(client, **changes):
    return client.post(reverse("settings"), {**VALID, **changes})


def test_an_editor_saves_valid_settings(editor_client):
    response = _post(editor_client)
    assert response.status_code == 302
    assert response["Location"] == reverse("settings")
    account = AccountSettings.load()
    assert account.default_currency == "USD"
    assert account.day_offsets == [1, 3, 7]
    assert account.end_behavior == "cancel_subscription"
    assert account.team_email_domains == ["acme.com", "acme.co.uk"]
    assert "Settings saved." in editor_client.get(reverse("settings")).text


def test_the_form_shows_stored_lists_as_comma_separated_text(editor_client):
    _post(editor_client)
    text = editor_client.get(reverse("settings")).text
    assert 'value="1, 3, 7"' in text
    assert 'value="acme.com, acme.co.uk"' in text


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ("1, two, 7", "“two” is not a whole number of days."),
        ("1, ², 7", "“²” is not a whole number of days."),
        ("7, 3", "Days must be increasing, without repeats."),
        ("0, 3", "Each day must be a whole number from 1 to 60."),
        ("", "List at least one day"),
    ],
)
def test_invalid_day_offsets_show_an_error_and_save_nothing(editor_client, offsets, message):
    before = AccountSettings.load()
    response = _post(editor_client, day_offsets=offsets)
    assert response.status_code == 200
    assert message in response.text
    after = AccountSettings.load()
    assert (after.day_offsets, after.default_currency) == (before.day_offsets, before.default_currency)


def test_a_day_that_is_not_a_number_gets_one_clear_message(editor_client):
    response = _post(editor_client, day_offsets="1, two")
    errors = response.context["form"].errors["day_offsets"]
    assert errors == ["“two” is not a whole number of days. Enter days like 1, 3, 7."]


def test_an_invalid_email_domain_shows_an_error(editor_client):
    response = _post(editor_client, team_email_domains="acme.com, not a domain!")
    assert response.status_code == 200
    assert "is not a domain name" in response.text
    assert AccountSettings.load().team_email_domains == []


def test_day_offsets_are_not_checked_for_the_within_days_schedule(editor_client):
    response = _post(editor_client, schedule_kind="within_days", day_offsets="")
    assert response.status_code == 302
    assert AccountSettings.load().schedule_kind == "within_days"


def test_a_viewer_sees_the_values_but_no_form(viewer_client):
    response = viewer_client.get(reverse("settings"))
    assert response.status_code == 200
    assert '<form method="post" action="/settings/"' not in response.text
    assert "Only editors can change these settings." in response.text
    assert "up to 4 retries within 14 days" in response.text


def test_a_viewer_cannot_post_settings(viewer_client):
    response = _post(viewer_client)
    assert response.status_code == 403
    assert AccountSettings.load().default_currency == "EUR"


def test_a_user_in_no_group_cannot_post_settings(client, outsider):
    client.force_login(outsider)
    assert _post(client).status_code == 403


def test_the_editor_gets_the_form(editor_client):
    response = editor_client.get(reverse("settings"))
    assert '<form method="post" action="/settings/"' in response.text
    assert "Save settings" in response.text


def test_the_page_lists_retry_policies_rates_and_team_roles(viewer_client, editor):
    RetryPolicy.objects.create(name="Annual", schedule_kind="day_offsets", day_offsets=[3, 10])
    backend = ExchangeBackend.objects.create(name="fixed", base_currency="EUR")
    Rate.objects.create(backend=backend, currency="USD", value=Decimal("1.08"))
    text = viewer_client.get(reverse("settings")).text
    assert "Annual" in text
    assert "Retry on days 3, 10 after the first failure" in text
    assert "1.080000" in text
    assert "<td>eddie</td>" in text
    assert "<td>Editor</td>" in text
    assert "<td>Viewer</td>" in text


def test_staff_get_a_link_to_edit_exchange_rates_in_the_admin(client, viewer_client, admin_user):
    assert "Edit exchange rates in the admin" not in viewer_client.get(reverse("settings")).text
    client.force_login(admin_user)
    text = client.get(reverse("settings")).text
    assert f'href="{reverse("admin:exchange_rate_changelist")}"' in text
