"""Void invoice: the invoice is canceled for good (`invoice.voided`)."""

from automations.engine.actions.base import Action, ActionSkipped, register, run_object
from automations.engine.actions.common import DONE_EARLIER, done_earlier, invoice_state
from automations.triggers import PAYMENT_FAILED
from billing import services
from billing.errors import BillingError
from billing.models import InvoiceStatus


@register
class VoidInvoice(Action):
    key = "void_invoice"
    label = "Void invoice"
    allowed_triggers = {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"}
    can_end_its_run = True

    def describe(self, params: dict) -> str:
        return "void the invoice"

    def execute(self, step) -> dict:
        invoice = run_object(step)
        if invoice.status == InvoiceStatus.VOID:
            if done_earlier(step, invoice.voided_at):
                return {"invoice": invoice.public_id, "status": invoice.status, "note": DONE_EARLIER}
            raise ActionSkipped("invoice is already void")
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            raise ActionSkipped(invoice_state(invoice))
        try:
            invoice = services.invoice_void(invoice=invoice)
        except BillingError as exc:  # changed under our feet: the service checked under the row lock
            raise ActionSkipped(exc.message) from exc
        return {"invoice": invoice.public_id, "status": invoice.status}
