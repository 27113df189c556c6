"""What billing needs from a payment gateway."""

from dataclasses import dataclass
from typing import Protocol

from moneyed import Money


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
