"""Cancel subscription now: no new invoices, and its open invoices stop advancing."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import DONE_EARLIER, done_earlier, subscription_of
from automations.triggers import PAYMENT_FAILED
from billing import services
from billing.errors import BillingError
from billing.models import SubscriptionStatus


@register
class CancelSubscription(Action):
    key = "cancel_subscription"
    label = "Cancel subscription"
    allowed_triggers = {PAYMENT_FAILED}

    def describe(self, params: dict) -> str:
        return "cancel the subscription"

    def execute(self, step) -> dict:
        subscription = subscription_of(run_object(step))
        if subscription is None:
            raise ActionSkipped("the invoice has no subscription")
        if subscription.status == SubscriptionStatus.CANCELED:
            if done_earlier(step, subscription.canceled_at):
                return {"subscription": subscription.public_id, "status": subscription.status, "note": DONE_EARLIER}
            raise ActionSkipped("subscription is already canceled")
        try:
            subscription = services.subscription_cancel(subscription=subscription, reason="payment_failed")
        except BillingError as exc:
            raise ActionSkipped(exc.message) from exc
        return {"subscription": subscription.public_id, "status": subscription.status}
