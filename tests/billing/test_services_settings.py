"""Settings services: retry policies (refused while in use) and exchange rates (cache cleared)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from djmoney.contrib.exchange.models import ExchangeBackend, Rate, convert_money, get_rate
from moneyed import Money

from automations.services.definitions import automation_create
from billing.models import AccountSettings, RetryPolicy
from billing.services import retry_policies
from billing.services.exchange_rates import exchange_rate_delete, exchange_rate_set
from billing.services.retry_policies import (
    RetryPolicyInUse,
    retry_policies_with_usage,
    retry_policy_create,
    retry_policy_delete,
    retry_policy_update,
    retry_policy_usage,
)
from billing.services.team import NO_ROLE, SUPERUSER, member_role
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db

NOW = {"amount": 0, "unit": "minutes"}
SCHEDULE = {"schedule_kind": "day_offsets", "day_offsets": [3, 7], "end_behavior": "cancel_subscription"}


def _automation_starting(policy_name: str, name: str = "Annual dunning"):
    return automation_create(
        name=name,
        trigger="subscription.payment_failed",
        filters=[],
        steps=[{"action": "set_retry_policy", "delay": NOW, "params": {"policy": policy_name}}],
    )


# --- Retry policies ---------------------------------------------------------------------------


def test_it_creates_a_policy_with_its_schedule():
    policy = retry_policy_create(name="  Annual  ", **SCHEDULE)
    policy.refresh_from_db()
    assert (policy.name, policy.day_offsets, policy.end_behavior) == ("Annual", [3, 7], "cancel_subscription")
    assert policy.describe_schedule() == "retry on days 3, 7 after the first failure"


def test_a_within_days_policy_keeps_no_day_offsets():
    policy = retry_policy_create(
        name="Monthly", schedule_kind="within_days", max_retries=3, within_days=9, day_offsets=[1]
    )
    assert policy.day_offsets == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"day_offsets": [7, 3]}, "day_offsets"),
        ({"day_offsets": [0]}, "day_offsets"),
        ({"day_offsets": list(range(1, 11))}, "day_offsets"),
        ({"schedule_kind": "within_days", "max_retries": 9}, "max_retries"),
        ({"schedule_kind": "within_days", "within_days": 61}, "within_days"),
        ({"end_behavior": "explode"}, "end_behavior"),
    ],
)
def test_an_invalid_policy_is_refused_field_by_field(fields, field):
    with pytest.raises(ValidationError) as exc:
        retry_policy_create(**{"name": "Annual", **SCHEDULE, **fields})
    assert field in exc.value.message_dict
    assert not RetryPolicy.objects.exists()


def test_a_name_taken_in_another_case_is_refused():
    retry_policy_create(name="Annual", **SCHEDULE)
    with pytest.raises(ValidationError) as exc:
        retry_policy_create(name="ANNUAL", **SCHEDULE)
    assert exc.value.message_dict["name"] == ["A retry policy named “ANNUAL” already exists: choose another name."]


def test_it_updates_name_and_schedule_of_an_unused_policy():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    retry_policy_update(policy=policy, name="Yearly", schedule_kind="within_days", max_retries=2, within_days=10)
    policy.refresh_from_db()
    assert (policy.name, policy.schedule_kind, policy.max_retries, policy.day_offsets) == (
        "Yearly",
        "within_days",
        2,
        [],
    )


def test_renaming_a_policy_that_automations_start_by_name_is_refused():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    _automation_starting("Annual")
    with pytest.raises(ValidationError) as exc:
        retry_policy_update(policy=policy, name="Yearly", **SCHEDULE)
    assert "Annual dunning" in exc.value.message_dict["name"][0]
    policy.refresh_from_db()
    assert policy.name == "Annual"


def test_the_schedule_of_a_policy_in_use_can_change():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    _automation_starting("Annual")
    retry_policy_update(policy=policy, name="Annual", **{**SCHEDULE, "day_offsets": [1, 2, 3]})
    policy.refresh_from_db()
    assert policy.day_offsets == [1, 2, 3]


def test_an_unused_policy_is_deleted():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    retry_policy_delete(policy=policy)
    assert not RetryPolicy.objects.exists()
    retry_policy_delete(policy=policy)  # twice is not an error


def test_a_policy_attached_to_an_invoice_cannot_be_deleted():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    make_invoice(retry_policy=policy)
    with pytest.raises(RetryPolicyInUse, match="used by 1 invoice"):
        retry_policy_delete(policy=policy)
    assert RetryPolicy.objects.filter(pk=policy.pk).exists()


def test_a_policy_started_by_an_automation_cannot_be_deleted():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    _automation_starting("Annual")
    with pytest.raises(RetryPolicyInUse, match=r"1 automation \(Annual dunning\)"):
        retry_policy_delete(policy=policy)


def test_it_asks_the_registered_providers_what_starts_a_policy(monkeypatch):
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    monkeypatch.setattr(retry_policies, "POLICY_REFERENCES", [])
    assert not retry_policy_usage(policy).in_use
    retry_policies.register_policy_references(lambda: {"Annual": ["Dunning"]})
    retry_policies.register_policy_references(lambda: {"Annual": {"Winback", "Dunning"}})
    assert retry_policy_usage(policy).automations == ["Dunning", "Winback"]
    with pytest.raises(RetryPolicyInUse, match=r"2 automations \(Dunning, Winback\)"):
        retry_policy_delete(policy=policy)


def test_an_archived_automation_does_not_hold_a_policy():
    policy = retry_policy_create(name="Annual", **SCHEDULE)
    automation = _automation_starting("Annual")
    automation.archived_at = automation.created
    automation.save(update_fields=["archived_at"])
    assert not retry_policy_usage(policy).in_use


def test_the_list_counts_automations_and_invoices_per_policy():
    annual = retry_policy_create(name="Annual", **SCHEDULE)
    retry_policy_create(name="Unused", **SCHEDULE)
    _automation_starting("Annual", name="A")
    _automation_starting("Annual", name="B")
    make_invoice(retry_policy=annual)
    usage = {policy.name: usage for policy, usage in retry_policies_with_usage()}
    assert (usage["Annual"].automations, usage["Annual"].invoices) == (["A", "B"], 1)
    assert not usage["Unused"].in_use


# --- Exchange rates ---------------------------------------------------------------------------


def test_the_first_rate_creates_the_rate_table_on_the_default_currency():
    rate = exchange_rate_set(currency="usd", value="1.0812345")
    assert (rate.currency, rate.value) == ("USD", Decimal("1.081235"))  # rounded half-up to 6 places
    assert ExchangeBackend.objects.get().base_currency == AccountSettings.load().default_currency


def test_changing_a_rate_is_seen_by_the_next_conversion_at_once():
    exchange_rate_set(currency="USD", value="2")
    assert convert_money(Money(10, "EUR"), "USD") == Money(20, "USD")  # now cached
    exchange_rate_set(currency="USD", value="3")
    assert convert_money(Money(10, "EUR"), "USD") == Money(30, "USD")
    assert Rate.objects.count() == 1


def test_deleting_a_rate_stops_conversions_in_that_currency():
    exchange_rate_set(currency="USD", value="2")
    get_rate("EUR", "USD")
    assert exchange_rate_delete(currency="USD") is True
    with pytest.raises(Exception, match="does not exist"):
        get_rate("EUR", "USD")
    assert exchange_rate_delete(currency="USD") is False


@pytest.mark.parametrize("code", ["", "US", "USDX", "usd1", "ÜSD", "XYZ", None, 12])
def test_an_unknown_or_malformed_currency_code_is_refused(code):
    with pytest.raises(ValidationError) as exc:
        exchange_rate_set(currency=code, value="1.5")
    assert "currency" in exc.value.message_dict


@pytest.mark.parametrize(
    "value", ["0", "-1", "NaN", "Infinity", "-inf", "1e9", "0.0000001", "abc", "", None, "1e999999"]
)
def test_a_rate_out_of_bounds_or_not_a_number_is_refused(value):
    with pytest.raises(ValidationError) as exc:
        exchange_rate_set(currency="USD", value=value)
    assert "value" in exc.value.message_dict
    assert not Rate.objects.exists()


def test_the_base_currency_rate_stays_one():
    exchange_rate_set(currency="USD", value="1.1")
    with pytest.raises(ValidationError, match="base currency"):
        exchange_rate_set(currency="EUR", value="2")


# --- Team -------------------------------------------------------------------------------------


def test_roles_come_from_groups_and_the_superuser_flag(editor, viewer, outsider, admin_user):
    assert [member_role(u) for u in (editor, viewer, outsider, admin_user)] == ["Editor", "Viewer", NO_ROLE, SUPERUSER]
