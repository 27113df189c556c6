"""What billing needs from a payment gateway."""

from dataclasses import dataclass
from typing import Protocol

from moneyed import Money

# The failure codes a gateway reports (Stripe's names), with their labels: the payment-failed
# trigger's "failure code" filter offers these.
FAILURE_CODES: dict[str, str] = {
    "card_declined": "Card declined",
    "insufficient_funds": "Insufficient funds",
    "processing_error": "Processing error",
    "expired_card": "Expired card",
    "incorrect_number": "Incorrect card number",
    "payment_method_missing": "No payment method",
}


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    failure_code: str = ""
    decline_type: str = ""  # "hard" or "soft" when the charge failed
    message: str = ""


class PaymentGateway(Protocol):
    def charge(self, *, amount: Money, payment_method: str, attempt_number: int, idempotency_key: str) -> ChargeResult:
        """Charge `amount` to `payment_method`; `attempt_number` counts attempts on one invoice."""
        ...
