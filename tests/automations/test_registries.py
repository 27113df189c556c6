"""The triggers and filters of SPEC §2, with the triggers each filter is offered for."""

from automations.engine.filters import FILTERS
from automations.triggers import TRIGGERS

ALL = set(TRIGGERS)
INVOICE = {"invoice.due_date_upcoming", "invoice.finalized", "invoice.overdue"}
SUBSCRIPTION = {"subscription.canceled", "subscription.cancel_scheduled", "subscription.pause_scheduled"}
PAYMENT_FAILED = "subscription.payment_failed"


def test_there_are_the_eight_triggers_of_the_spec():
    assert set(TRIGGERS) == INVOICE | SUBSCRIPTION | {PAYMENT_FAILED, "quote.expiring"}
    anchored = {key for key, trigger in TRIGGERS.items() if trigger.is_anchored}
    assert anchored == {
        "invoice.due_date_upcoming", "quote.expiring", "subscription.cancel_scheduled", "subscription.pause_scheduled"
    }  # fmt: skip


def test_the_filter_matrix_is_the_spec_cell_by_cell():
    expected = {
        "customer_metadata": ALL,
        "invoice_metadata": INVOICE | {PAYMENT_FAILED},
        "invoice_amount": INVOICE | {PAYMENT_FAILED},
        "subscription_interval": SUBSCRIPTION | {PAYMENT_FAILED},
        "product": ALL,
        "decline_type": {PAYMENT_FAILED},
        "failure_code": {PAYMENT_FAILED},
    }
    for key, allowed in expected.items():
        for trigger in ALL:
            assert (trigger in FILTERS[key].allowed_triggers) == (trigger in allowed), (key, trigger)
    assert set(FILTERS) == set(expected)
