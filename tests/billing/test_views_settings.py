"""The settings pages: editors change the account defaults, retry policies and exchange rates;
viewers see them all and change nothing."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from djmoney.contrib.exchange.models import ExchangeBackend, Rate, convert_money
from moneyed import Money, list_all_currencies

from automations.services.definitions import automation_create
from billing.models import AccountSettings, RetryPolicy
from frame.permissions import EDITORS
from tests.factories import make_invoice

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
    assert response.status_code == 400
    assert message in response.text
    after = AccountSettings.load()
    assert (after.day_offsets, after.default_currency) == (before.day_offsets, before.default_currency)


def test_a_day_that_is_not_a_number_gets_one_clear_message(editor_client):
    response = _post(editor_client, day_offsets="1, two")
    errors = response.context["form"].errors["day_offsets"]
    assert errors == ["“two” is not a whole number of days. Enter days like 1, 3, 7."]


def test_an_invalid_email_domain_shows_an_error(editor_client):
    response = _post(editor_client, team_email_domains="acme.com, not a domain!")
    assert response.status_code == 400
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


def test_invalid_settings_keep_the_stored_schedule_in_the_summary(editor_client):
    response = _post(editor_client, schedule_kind="within_days", max_retries="99")
    assert response.status_code == 400
    assert "Now: Up to 4 retries within 14 days" in response.text


HOSTILE = [
    "",
    "-1",
    "NaN",
    "Infinity",
    "1e309",
    "9" * 5000,
    "ünïcødé ✓ 💸",
    "a" * 10_000,
    "<script>alert(1)</script>",
    "1,2,\x00",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "field",
    [
        "default_currency",
        "schedule_kind",
        "max_retries",
        "within_days",
        "day_offsets",
        "end_behavior",
        "team_email_domains",
    ],
)
def test_hostile_general_settings_get_a_400_never_a_500(editor_client, field, value):
    response = _post(editor_client, **{field: value})
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert "The settings were not saved" in response.text


def test_missing_fields_get_a_400(editor_client):
    assert editor_client.post(reverse("settings"), {}).status_code == 400


# --- The settings sections ----------------------------------------------------------------------

SECTIONS = ["settings", "settings_retry_policies", "settings_exchange_rates", "settings_team"]


@pytest.mark.parametrize("name", SECTIONS)
def test_every_settings_page_shares_the_sub_navigation(editor_client, name):
    text = editor_client.get(reverse(name)).text
    for label in ("General", "Retry policies", "Exchange rates", "Team", "Webhooks", "Emails"):
        assert f">{label}</a>" in text
    assert text.count('aria-current="page"') == 2  # the main navigation's Settings, and this section


@pytest.mark.parametrize("name", SECTIONS)
def test_viewers_see_every_settings_section(viewer_client, name):
    response = viewer_client.get(reverse(name))
    assert response.status_code == 200
    assert 'method="post"' not in response.text.split("<main", 1)[1]
    assert ">Webhooks</a>" not in response.text


# --- Retry policies -------------------------------------------------------------------------------

POLICY = {
    "name": "Annual plans",
    "schedule_kind": "day_offsets",
    "max_retries": "4",
    "within_days": "14",
    "day_offsets": "3, 7, 14",
    "end_behavior": "cancel_subscription",
}


def _policy(name="Annual plans", **fields) -> RetryPolicy:
    return RetryPolicy.objects.create(name=name, **{"schedule_kind": "day_offsets", "day_offsets": [3, 10], **fields})


def test_the_policies_page_explains_itself_when_empty(editor_client):
    text = editor_client.get(reverse("settings_retry_policies")).text
    assert "No retry policies yet." in text
    assert f'href="{reverse("settings_retry_policy_add")}"' in text


def test_the_policies_page_lists_schedule_end_behaviour_and_use(viewer_client):
    policy = _policy(end_behavior="mark_unpaid")
    make_invoice(retry_policy=policy)
    text = viewer_client.get(reverse("settings_retry_policies")).text
    assert "Annual plans" in text
    assert "Retry on days 3, 10 after the first failure" in text
    assert "Mark the subscription unpaid" in text
    assert "1 invoice" in text


def test_viewers_get_no_policy_controls(viewer_client):
    policy = _policy()
    text = viewer_client.get(reverse("settings_retry_policies")).text
    assert "New retry policy" not in text
    assert reverse("settings_retry_policy_edit", args=[policy.pk]) not in text
    assert "<dialog" not in text


def test_an_editor_adds_a_policy(editor_client):
    assert editor_client.get(reverse("settings_retry_policy_add")).status_code == 200
    response = editor_client.post(reverse("settings_retry_policy_add"), POLICY)
    assert response.status_code == 302
    policy = RetryPolicy.objects.get()
    assert (policy.name, policy.day_offsets, policy.end_behavior) == ("Annual plans", [3, 7, 14], "cancel_subscription")
    assert "Retry policy “Annual plans” added." in editor_client.get(response["Location"]).text


def test_an_invalid_policy_shows_its_errors_inline(editor_client):
    response = editor_client.post(reverse("settings_retry_policy_add"), {**POLICY, "day_offsets": "7, 3", "name": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["day_offsets"] == ["Days must be increasing, without repeats."]
    assert "This field is required." in response.text
    assert "The retry policy was not saved" in response.text
    assert not RetryPolicy.objects.exists()


def test_a_duplicate_name_is_shown_next_to_the_name(editor_client):
    _policy()
    response = editor_client.post(reverse("settings_retry_policy_add"), {**POLICY, "name": "annual PLANS"})
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "A retry policy named “annual PLANS” already exists: choose another name."
    ]


def test_an_editor_edits_a_policy(editor_client):
    policy = _policy()
    url = reverse("settings_retry_policy_edit", args=[policy.pk])
    assert 'value="3, 10"' in editor_client.get(url).text
    response = editor_client.post(url, {**POLICY, "name": "Yearly", "schedule_kind": "within_days", "max_retries": "2"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.name, policy.schedule_kind, policy.max_retries) == ("Yearly", "within_days", 2)


def test_a_refused_rename_keeps_the_page_on_the_stored_name(editor_client):
    policy = _policy()
    _automation_starting(policy.name)
    response = editor_client.post(reverse("settings_retry_policy_edit", args=[policy.pk]), {**POLICY, "name": "Other"})
    assert response.status_code == 400
    assert "Automations start this policy by its name (Annual dunning)" in response.text
    assert "› Annual plans" in response.text


def test_an_editor_deletes_an_unused_policy_after_confirming(editor_client):
    policy = _policy()
    list_page = editor_client.get(reverse("settings_retry_policies")).text
    assert f'<dialog id="delete-policy-{policy.pk}"' in list_page
    assert f'data-opens-dialog="delete-policy-{policy.pk}"' in list_page
    url = reverse("settings_retry_policy_delete", args=[policy.pk])
    assert "Yes, delete the policy" in editor_client.get(url).text
    assert RetryPolicy.objects.exists()  # asking deletes nothing
    response = editor_client.post(url)
    assert response.status_code == 302
    assert not RetryPolicy.objects.exists()
    assert "Retry policy “Annual plans” deleted." in editor_client.get(response["Location"]).text


def _automation_starting(policy_name: str):
    return automation_create(
        name="Annual dunning",
        trigger="subscription.payment_failed",
        filters=[],
        steps=[
            {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "minutes"}, "params": {"policy": policy_name}}
        ],
    )


def test_a_policy_in_use_is_not_deleted_and_the_page_says_why(editor_client):
    policy = _policy()
    _automation_starting(policy.name)
    make_invoice(retry_policy=policy)
    list_page = editor_client.get(reverse("settings_retry_policies")).text
    assert "1 automation, 1 invoice" in list_page
    assert "so it cannot be deleted" in list_page
    response = editor_client.post(reverse("settings_retry_policy_delete", args=[policy.pk]), follow=True)
    assert RetryPolicy.objects.filter(pk=policy.pk).exists()
    assert "is used by 1 automation (Annual dunning) and 1 invoice, so it cannot be deleted." in response.text


def test_policy_pages_of_a_missing_policy_are_404(editor_client):
    assert editor_client.get(reverse("settings_retry_policy_edit", args=[999])).status_code == 404
    assert editor_client.post(reverse("settings_retry_policy_delete", args=[999])).status_code == 404


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", list(POLICY))
def test_hostile_policy_input_gets_a_400_never_a_500(editor_client, field, value):
    response = editor_client.post(reverse("settings_retry_policy_add"), {**POLICY, field: value})
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert "The retry policy was not saved" in response.text


def test_a_policy_without_any_field_gets_a_400(editor_client):
    assert editor_client.post(reverse("settings_retry_policy_add"), {}).status_code == 400


def test_the_policy_list_has_a_bounded_number_of_queries(editor_client, django_assert_max_num_queries):
    for i in range(30):
        policy = _policy(name=f"Policy {i}")
        make_invoice(retry_policy=policy)
    _automation_starting("Policy 1")
    with django_assert_max_num_queries(10):
        response = editor_client.get(reverse("settings_retry_policies"))
    assert response.text.count("<dialog") == 30


# --- Exchange rates -------------------------------------------------------------------------------


def _rate(currency="USD", value="1.08") -> Rate:
    backend, _ = ExchangeBackend.objects.get_or_create(name="fixed", defaults={"base_currency": "EUR"})
    return Rate.objects.create(backend=backend, currency=currency, value=Decimal(value))


def test_the_rates_page_explains_itself_when_empty(viewer_client):
    text = viewer_client.get(reverse("settings_exchange_rates")).text
    assert "No exchange rates yet." in text
    assert "Only editors can change exchange rates." in text


def test_the_rates_page_lists_each_rate_against_the_base_currency(viewer_client):
    _rate()
    text = viewer_client.get(reverse("settings_exchange_rates")).text
    assert "1 EUR = 1.080000 USD" in text
    assert "Save rate" not in text
    assert "<dialog" not in text


def test_an_editor_adds_a_rate_and_conversions_use_it_at_once(editor_client):
    _rate(value="2")
    assert convert_money(Money(10, "EUR"), "USD") == Money(20, "USD")  # cached for 10 minutes
    response = editor_client.post(reverse("settings_exchange_rates"), {"currency": "usd", "value": "3"})
    assert response.status_code == 302
    assert convert_money(Money(10, "EUR"), "USD") == Money(30, "USD")
    assert "Rate saved: 1 EUR = 3 USD." in editor_client.get(response["Location"]).text


def test_the_change_link_fills_in_the_form(editor_client):
    _rate(value="1.5")
    text = editor_client.get(reverse("settings_exchange_rates") + "?currency=USD").text
    assert 'value="USD"' in text
    assert 'value="1.500000"' in text
    assert editor_client.get(reverse("settings_exchange_rates") + "?currency=%00💸").status_code == 200


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"currency": "XYZ", "value": "1"}, "currency", "“XYZ” is not a known currency code."),
        ({"currency": "U$D", "value": "1"}, "currency", "Enter a currency code of three letters, e.g. USD."),
        ({"currency": "USD", "value": "-2"}, "value", "Enter a rate from 0.000001 to 1,000,000."),
        ({"currency": "USD", "value": "0"}, "value", "Enter a rate from 0.000001 to 1,000,000."),
        ({"currency": "USD", "value": "NaN"}, "value", "Enter a number."),
        ({"currency": "EUR", "value": "2"}, "currency", "EUR is the base currency: its rate is always 1."),
    ],
)
def test_an_invalid_rate_shows_its_error_inline(editor_client, data, field, message):
    _rate()
    response = editor_client.post(reverse("settings_exchange_rates"), data)
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert Rate.objects.get().value == Decimal("1.08")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["currency", "value"])
def test_hostile_rate_input_gets_a_400_never_a_500(editor_client, field, value):
    response = editor_client.post(reverse("settings_exchange_rates"), {"currency": "USD", "value": "1.1", field: value})
    assert response.status_code == 400
    assert "The rate was not saved" in response.text
    assert not Rate.objects.exists()


def test_an_editor_deletes_a_rate_after_confirming(editor_client):
    rate = _rate()
    assert f'<dialog id="delete-rate-{rate.pk}"' in editor_client.get(reverse("settings_exchange_rates")).text
    url = reverse("settings_exchange_rate_delete", args=["USD"])
    assert "Yes, delete the rate" in editor_client.get(url).text
    response = editor_client.post(url, follow=True)
    assert not Rate.objects.exists()
    assert "Rate for USD deleted" in response.text
    assert editor_client.post(url).status_code == 404


def test_the_rate_list_has_a_bounded_number_of_queries(editor_client, django_assert_max_num_queries):
    for currency in [c.code for c in list_all_currencies() if c.code != "EUR"][:60]:
        _rate(currency)
    with django_assert_max_num_queries(8):
        response = editor_client.get(reverse("settings_exchange_rates"))
    assert response.text.count("<dialog") == 60


# --- Team -----------------------------------------------------------------------------------------


def test_the_team_page_shows_roles_activity_and_last_login(viewer_client, editor, outsider, admin_user):
    outsider.is_active = False
    outsider.save()
    text = viewer_client.get(reverse("settings_team")).text
    assert "<td>eddie</td>" in text
    assert "<td>Editor</td>" in text
    assert "<td>Viewer</td>" in text
    assert "<td>Superuser</td>" in text
    assert "<td>No role</td>" in text
    assert "No (cannot log in)" in text
    assert "Never" in text
    assert "Manage users in the admin" not in text


def test_staff_get_a_link_to_manage_users_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    text = client.get(reverse("settings_team")).text
    assert f'href="{reverse("admin:auth_user_changelist")}"' in text


def test_the_team_page_has_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries):
    editors = Group.objects.get(name=EDITORS)
    for i in range(120):
        User.objects.create(username=f"user{i}").groups.add(editors)
    with django_assert_max_num_queries(8):
        response = viewer_client.get(reverse("settings_team"))
    assert "121 users · page 1 of 3" in response.text


# --- Viewers change nothing ---------------------------------------------------------------------


def _state_changing_requests():
    return [
        ("settings", [], {"default_currency": "USD"}),
        ("settings_retry_policy_add", [], POLICY),
        ("settings_retry_policy_edit", ["POLICY"], POLICY),
        ("settings_retry_policy_delete", ["POLICY"], {}),
        ("settings_exchange_rates", [], {"currency": "USD", "value": "5"}),
        ("settings_exchange_rate_delete", ["USD"], {}),
    ]


@pytest.mark.parametrize(("name", "args", "data"), _state_changing_requests())
def test_viewers_get_403_on_every_change(viewer_client, name, args, data):
    policy = _policy()
    _rate()
    args = [policy.pk if arg == "POLICY" else arg for arg in args]
    assert viewer_client.post(reverse(name, args=args), data).status_code == 403
    assert RetryPolicy.objects.get().name == "Annual plans"
    assert Rate.objects.get().value == Decimal("1.08")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("settings_retry_policy_add", []),
        ("settings_retry_policy_edit", ["POLICY"]),
        ("settings_retry_policy_delete", ["POLICY"]),
        ("settings_exchange_rate_delete", ["USD"]),
    ],
)
def test_viewers_cannot_open_the_editing_pages(viewer_client, name, args):
    policy = _policy()
    _rate()
    args = [policy.pk if arg == "POLICY" else arg for arg in args]
    assert viewer_client.get(reverse(name, args=args)).status_code == 403


@pytest.mark.parametrize("name", ["settings_retry_policies", "settings_team"])
def test_read_only_pages_refuse_a_post(editor_client, name):
    assert editor_client.post(reverse(name)).status_code == 405
