"""Send the `customer.subscription.custom_event` webhook with a label the user chose."""

from automations.engine.actions.base import Action, ActionSkipped, InvalidParams, register, run_object
from automations.engine.actions.common import emit_step_webhook, subscription_of
from automations.triggers import PAYMENT_FAILED, SUBSCRIPTION_TRIGGERS

MAX_LABEL = 100


@register
class SendCustomEventWebhook(Action):
    key = "send_custom_event_webhook"
    label = "Send customer.subscription.custom_event webhook"
    allowed_triggers = SUBSCRIPTION_TRIGGERS | {PAYMENT_FAILED}
    event_type = "customer.subscription.custom_event"

    def clean(self, params: dict) -> dict:
        label = (params or {}).get("label")
        label = label.strip() if isinstance(label, str) else ""
        if not label:
            raise InvalidParams({"label": "Enter a label for the event, e.g. win_back."})
        if len(label) > MAX_LABEL:
            raise InvalidParams({"label": f"The label can be at most {MAX_LABEL} characters (it has {len(label)})."})
        return {"label": label}

    def describe(self, params: dict) -> str:
        return f"send the {self.event_type} webhook labelled “{params['label']}”"

    def execute(self, step) -> dict:
        subscription = subscription_of(run_object(step))
        if subscription is None:
            raise ActionSkipped("the invoice has no subscription")
        result = emit_step_webhook(step, type=self.event_type, obj=subscription, data={"label": step.params["label"]})
        return {**result, "label": step.params["label"]}
