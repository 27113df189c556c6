"""Mark invoice uncollectible: bad debt, no more payment retries (`invoice.marked_uncollectible`)."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import DONE_EARLIER, done_earlier, invoice_state
from automations.triggers import PAYMENT_FAILED
from billing import services
from billing.errors import BillingError
from billing.models import InvoiceStatus


@register
class MarkInvoiceUncollectible(Action):
    key = "mark_invoice_uncollectible"
    label = "Mark invoice uncollectible"
    allowed_triggers = {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"}
    can_end_its_run = True

    def describe(self, params: dict) -> str:
        return "mark the invoice uncollectible"

    def execute(self, step) -> dict:
        invoice = run_object(step)
        if invoice.status == InvoiceStatus.UNCOLLECTIBLE:
            if done_earlier(step, invoice.marked_uncollectible_at):
                return {"invoice": invoice.public_id, "status": invoice.status, "note": DONE_EARLIER}
            raise ActionSkipped("invoice is already uncollectible")
        if invoice.status != InvoiceStatus.OPEN:
            raise ActionSkipped(invoice_state(invoice))
        try:
            invoice = services.invoice_mark_uncollectible(invoice=invoice)
        except BillingError as exc:
            raise ActionSkipped(exc.message) from exc
        return {"invoice": invoice.public_id, "status": invoice.status}
