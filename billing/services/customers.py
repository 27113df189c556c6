"""Customer services: create and update, each recording one event; delete (no event: Stripe's
customer.deleted is not one of ours yet) while nothing is billed."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import ProtectedError

import audit
from billing import clock
from billing.errors import BillingError
from billing.events import record_event
from billing.models import AccountSettings, Customer, EventType, Locale, TestClock
from billing.serializers import snapshot
from billing.services.common import UNSET, check_metadata, lock
from billing.services.test_clocks import check_room_for_a_customer


def customer_create(
    *,
    name: str,
    email: str,
    currency: str | None = None,
    metadata: dict | None = None,
    default_payment_method: str = "",
    test_clock: TestClock | None = None,
    preferred_locale: str = "",
) -> Customer:
    """Create a customer (`customer.created`); the currency defaults to the account's. On a test
    clock, the customer is created at the clock's time (at most MAX_CUSTOMERS per clock)."""
    name, email = name.strip(), email.strip()
    if not name:
        raise BillingError("A customer needs a name.")
    _check_email(email)
    _check_locale(preferred_locale)
    currency = (currency or AccountSettings.load().default_currency).upper()
    if currency not in settings.CURRENCIES:
        raise BillingError(f"Currency {currency} is not supported.")
    with transaction.atomic():
        if test_clock is not None:
            test_clock = check_room_for_a_customer(test_clock)
        customer = Customer.objects.create(
            name=name,
            email=email,
            currency=currency,
            metadata=check_metadata(metadata),
            default_payment_method=default_payment_method,
            test_clock=test_clock,
            preferred_locale=preferred_locale,
            created=test_clock.frozen_time if test_clock is not None else clock.now(),
        )
        record_event(type=EventType.CUSTOMER_CREATED, obj=customer)
        audit.record(
            "customer.created",
            customer,
            after=audit.fields(customer, "name", "email", "currency", "default_payment_method", "test_clock"),
        )
    return customer


def _check_email(email: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        raise BillingError(f"{email!r} is not a valid email address.") from None


def _check_locale(locale: str) -> None:
    if locale not in Locale.values:
        known = ", ".join(code for code in Locale.values if code)
        raise BillingError(f"{locale!r} is not a language customers can read here ({known}, or blank).")


def customer_update_fields(
    *,
    customer: Customer,
    name=UNSET,
    email=UNSET,
    metadata=UNSET,
    default_payment_method=UNSET,
    preferred_locale=UNSET,
) -> Customer:
    """Change a customer's fields (`customer.updated`, audited). Callers use
    `billing.services.customer_update`, which also retries failed invoices when the card changes."""
    with transaction.atomic():
        customer = lock(customer)
        before = snapshot(customer)
        if email is not UNSET:
            _check_email(email)
        if preferred_locale is not UNSET:
            _check_locale(preferred_locale)
        changes = {
            "name": name,
            "email": email,
            "default_payment_method": default_payment_method,
            "preferred_locale": preferred_locale,
        }
        if metadata is not UNSET:
            changes["metadata"] = check_metadata(metadata)
        fields = [field for field, value in changes.items() if value is not UNSET and getattr(customer, field) != value]
        audited = audit.fields(customer, *fields)
        for field in fields:
            setattr(customer, field, changes[field])
        if not fields:
            return customer
        customer.save(update_fields=[*fields, "updated"])
        record_event(type=EventType.CUSTOMER_UPDATED, obj=customer, before=before)
        audit.record("customer.updated", customer, before=audited, after=audit.fields(customer, *fields))
    return customer


def customer_delete(*, customer: Customer) -> None:
    """Delete a customer who has nothing billed yet (Stripe's DELETE /v1/customers/:id). A customer
    with invoices, subscriptions or quotes is refused: those are the billing history."""
    with transaction.atomic():
        customer = lock(customer)
        held = [
            label
            for label, related in (
                ("invoices", customer.invoices),
                ("subscriptions", customer.subscriptions),
                ("quotes", customer.quotes),
            )
            if related.exists()
        ]
        if held:
            raise BillingError(
                f"Customer {customer.public_id} has {' and '.join(held)}: a customer with billing history "
                "cannot be deleted (cancel the subscriptions and void the invoices instead)."
            )
        before = audit.fields(customer, "name", "email")
        try:
            customer.delete()
        except ProtectedError:
            raise BillingError(f"Customer {customer.public_id} is still referenced and cannot be deleted.") from None
        audit.record("customer.deleted", object_id=customer.public_id, label=customer.name, before=before)
