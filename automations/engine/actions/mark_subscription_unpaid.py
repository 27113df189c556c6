"""Mark subscription unpaid: it keeps generating an invoice each period, left in draft."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import DONE_EARLIER, done_earlier, subscription_of
from automations.triggers import PAYMENT_FAILED
from billing import services
from billing.errors import BillingError
from billing.models import SubscriptionStatus


@register
class MarkSubscriptionUnpaid(Action):
    key = "mark_subscription_unpaid"
    label = "Mark subscription unpaid"
    allowed_triggers = {PAYMENT_FAILED}

    def describe(self, params: dict) -> str:
        return "mark the subscription unpaid"

    def execute(self, step) -> dict:
        subscription = subscription_of(run_object(step))
        if subscription is None:
            raise ActionSkipped("the invoice has no subscription")
        if subscription.status == SubscriptionStatus.UNPAID:
            # No unpaid_at: `updated` is when it last changed, at the latest when it became unpaid.
            if done_earlier(step, subscription.updated):
                return {"subscription": subscription.public_id, "status": subscription.status, "note": DONE_EARLIER}
            raise ActionSkipped("subscription is already unpaid")
        if subscription.status == SubscriptionStatus.CANCELED:
            raise ActionSkipped("subscription is canceled")
        try:
            subscription = services.subscription_mark_unpaid(subscription=subscription)
        except BillingError as exc:  # e.g. active again, or paused: only a past-due subscription becomes unpaid
            raise ActionSkipped(exc.message) from exc
        return {"subscription": subscription.public_id, "status": subscription.status}
