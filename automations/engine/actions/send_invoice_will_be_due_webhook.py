"""Send the `invoice.will_be_due` webhook about an invoice whose due date is near."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import emit_step_webhook, invoice_state
from billing.models import InvoiceStatus


@register
class SendInvoiceWillBeDueWebhook(Action):
    key = "send_invoice_will_be_due_webhook"
    label = "Send invoice.will_be_due webhook"
    allowed_triggers = {"invoice.due_date_upcoming"}
    event_type = "invoice.will_be_due"

    def describe(self, params: dict) -> str:
        return f"send the {self.event_type} webhook"

    def execute(self, step) -> dict:
        invoice = run_object(step)
        if invoice.status != InvoiceStatus.OPEN:
            raise ActionSkipped(invoice_state(invoice))
        return emit_step_webhook(step, type=self.event_type, obj=invoice)
