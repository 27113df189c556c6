"""A gateway whose outcome depends on the test card, like Stripe's test cards."""

from dataclasses import dataclass

from moneyed import Money

from billing.payments.base import ChargeResult


@dataclass(frozen=True)
class TestCard:
    number: str
    label: str
    outcome: ChargeResult
    succeeds_on_retry: bool = False


_SUCCESS = ChargeResult(succeeded=True)

TEST_CARDS: dict[str, TestCard] = {
    card.number: card
    for card in [
        TestCard("4242424242424242", "Succeeds", _SUCCESS),
        TestCard(
            "4000000000000002",
            "Always declined (soft: card_declined)",
            ChargeResult(False, "card_declined", "soft", "Your card was declined."),
        ),
        TestCard(
            "4000000000009995",
            "Insufficient funds (soft)",
            ChargeResult(False, "insufficient_funds", "soft", "Your card has insufficient funds."),
        ),
        TestCard(
            "4000000000000069",
            "Expired card (hard)",
            ChargeResult(False, "expired_card", "hard", "Your card has expired."),
        ),
        TestCard(
            "4000000000000341",
            "Fails the first attempt, succeeds on retry",
            ChargeResult(False, "processing_error", "soft", "An error occurred while processing your card."),
            succeeds_on_retry=True,
        ),
    ]
}

_NO_METHOD = ChargeResult(False, "payment_method_missing", "hard", "The customer has no payment method.")
_UNKNOWN = ChargeResult(False, "incorrect_number", "hard", "Your card number is incorrect.")


class TestGateway:
    """Deterministic: no network, the card number decides."""

    __test__ = False  # not a pytest test class

    def charge(self, *, amount: Money, payment_method: str, attempt_number: int, idempotency_key: str) -> ChargeResult:
        number = payment_method.replace(" ", "")
        if not number:
            return _NO_METHOD
        card = TEST_CARDS.get(number)
        if card is None:
            return _UNKNOWN
        if card.succeeds_on_retry and attempt_number > 1:
            return _SUCCESS
        return card.outcome
