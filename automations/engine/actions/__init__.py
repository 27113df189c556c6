"""The action registry: one module per action (see base.py for what an action is)."""

from automations.engine.actions.base import ACTIONS, register  # noqa: F401

# Each module registers its action on import, in the order of SPEC §2 (the order the builder offers).
# isort: off
from automations.engine.actions import (  # noqa: E402, F401
    set_retry_policy,
    mark_subscription_unpaid,
    cancel_subscription,
    mark_invoice_uncollectible,
    void_invoice,
    send_team_email,
    send_cancellation_email,
    email_customer,
    send_invoice_will_be_due_webhook,
    send_quote_will_expire_webhook,
    send_custom_event_webhook,
)
# isort: on
