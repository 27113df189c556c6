"""Mark invoice uncollectible: bad debt, no more payment retries (`invoice.marked_uncollectible`)."""

from automations.engine.actions.base import register
from automations.engine.actions.closing import ClosingAction
from automations.triggers import PAYMENT_FAILED
from billing.models import InvoiceStatus


@register
class MarkInvoiceUncollectible(ClosingAction):
    key = "mark_invoice_uncollectible"
    label = "Mark invoice uncollectible"
    allowed_triggers = {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"}
    target, stamp = InvoiceStatus.UNCOLLECTIBLE, "marked_uncollectible_at"
    closes_from = (InvoiceStatus.OPEN,)
    already = "invoice is already uncollectible"

    def describe(self, params: dict) -> str:
        return "mark the invoice uncollectible"
