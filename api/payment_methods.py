"""Stripe's test payment methods, mapped to the test gateway's cards (billing/payments/test_gateway.py).

`pm_card_chargeDeclinedOnceThenSucceeds` is ours (Stripe has no such id): the card that fails its
first attempt and succeeds on retry.
"""

from api.errors import invalid

TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedOnceThenSucceeds": "4000000000000341",
}
_BY_CARD = {card: pm for pm, card in TEST_PAYMENT_METHODS.items()}


def card_for(payment_method, param: str) -> str:
    """The test card number of a `pm_card_…` id ("" for an empty value: no payment method)."""
    if payment_method == "":
        return ""
    if not isinstance(payment_method, str) or payment_method not in TEST_PAYMENT_METHODS:
        shown = payment_method if isinstance(payment_method, str) else "(not an id)"
        invalid(
            f"No such PaymentMethod: '{shown[:100]}'. Use one of the test payment methods: "
            + ", ".join(TEST_PAYMENT_METHODS) + ".",
            param=param,
        )  # fmt: skip
    return TEST_PAYMENT_METHODS[payment_method]


def payment_method_id(card: str) -> str | None:
    """The `pm_card_…` id of a stored card (the card itself when it is not a test card)."""
    if not card:
        return None
    return _BY_CARD.get(card.replace(" ", ""), card)
