"""Send the `quote.will_expire` webhook about a quote whose expiry date is near."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import emit_step_webhook
from billing.models import QuoteStatus


@register
class SendQuoteWillExpireWebhook(Action):
    key = "send_quote_will_expire_webhook"
    label = "Send quote.will_expire webhook"
    allowed_triggers = {"quote.expiring"}
    event_type = "quote.will_expire"

    def describe(self, params: dict) -> str:
        return f"send the {self.event_type} webhook"

    def execute(self, step) -> dict:
        quote = run_object(step)
        if quote.status != QuoteStatus.OPEN:
            raise ActionSkipped(f"quote is {quote.get_status_display().lower()}")
        return emit_step_webhook(step, type=self.event_type, obj=quote)
