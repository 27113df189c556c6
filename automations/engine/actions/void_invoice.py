"""Void invoice: the invoice is canceled for good (`invoice.voided`)."""

from automations.engine.actions.base import register
from automations.engine.actions.closing import ClosingAction
from automations.triggers import PAYMENT_FAILED
from billing.models import InvoiceStatus


@register
class VoidInvoice(ClosingAction):
    key = "void_invoice"
    label = "Void invoice"
    allowed_triggers = {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"}
    target, stamp = InvoiceStatus.VOID, "voided_at"
    closes_from = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)
    already = "invoice is already void"

    def describe(self, params: dict) -> str:
        return "void the invoice"
