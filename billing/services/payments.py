"""Charging an invoice through the payment gateway; what the outcome sets in motion is in
`billing.services.collection`."""

from datetime import datetime

from billing.errors import BillingError
from billing.models import Invoice, PaymentAttempt, PaymentOutcome
from billing.payments import get_gateway
from billing.payments.test_gateway import TEST_CARDS


def payment_method_check(card: str) -> str:
    """The card number without spaces; BillingError when it is not one of the test gateway's cards."""
    number = (card or "").replace(" ", "")
    if number not in TEST_CARDS:
        known = "; ".join(f"{test_card.number} ({test_card.label})" for test_card in TEST_CARDS.values())
        raise BillingError(f"This card number is not valid: use one of the test cards: {known}.")
    return number


def payment_attempt_charge(*, invoice: Invoice, now: datetime) -> PaymentAttempt:
    """Ask the gateway for the invoice's remaining amount and record the PaymentAttempt.

    The caller holds the invoice's lock and saves it: its `attempt_count` is set here.
    """
    customer = invoice.customer
    number = invoice.attempt_count + 1
    amount = invoice.amount_remaining
    result = get_gateway().charge(
        amount=amount,
        payment_method=customer.default_payment_method,
        attempt_number=number,
        idempotency_key=f"{invoice.public_id}:attempt:{number}",
    )
    attempt = PaymentAttempt.objects.create(
        invoice=invoice,
        created=now,
        attempt_number=number,
        amount=amount,
        payment_method=customer.default_payment_method,
        outcome=PaymentOutcome.SUCCEEDED if result.succeeded else PaymentOutcome.FAILED,
        failure_code=result.failure_code,
        decline_type=result.decline_type,
        message=result.message,
    )
    invoice.attempt_count = number
    return attempt
