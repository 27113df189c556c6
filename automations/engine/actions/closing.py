"""What the two actions that close an invoice share (void, mark uncollectible): the checks
before closing, one by one or as a set of steps (`execute_set`)."""

from automations.engine.actions.base import Action, ActionSkipped, read_run_objects, run_object
from automations.engine.actions.common import DONE_EARLIER, done_earlier, invoice_state
from billing import services
from billing.errors import BillingError
from billing.models import InvoiceStatus
from billing.serializers import lines_prefetch


class ClosingAction(Action):
    """Moves the run's invoice to `target` (stamping `stamp`) unless it cannot or already did."""

    target: str
    stamp: str
    closes_from: tuple[str, ...]
    already: str  # the skip reason when it is there already, e.g. "invoice is already void"
    can_end_its_run = True
    acts_as_set = True

    def _settled(self, step, invoice) -> dict | None:
        """The step's result when the invoice is already where the step takes it (through an
        earlier attempt of this step); None when it is to be closed; ActionSkipped otherwise."""
        if invoice.status == self.target:
            if done_earlier(step, getattr(invoice, self.stamp)):
                return {"invoice": invoice.public_id, "status": invoice.status, "note": DONE_EARLIER}
            raise ActionSkipped(self.already)
        if invoice.status not in self.closes_from:
            raise ActionSkipped(invoice_state(invoice))
        return None

    def execute(self, step) -> dict:
        invoice = run_object(step)
        if (result := self._settled(step, invoice)) is not None:
            return result
        try:
            invoice = self.close(invoice)
        except BillingError as exc:  # changed under our feet: the service checked under the row lock
            raise ActionSkipped(exc.message) from exc
        return {"invoice": invoice.public_id, "status": invoice.status}

    def close(self, invoice):
        """The billing service that closes one invoice (under its row lock)."""
        if self.target == InvoiceStatus.VOID:
            return services.invoice_void(invoice=invoice)
        return services.invoice_mark_uncollectible(invoice=invoice)

    def read_set(self, steps: list) -> dict[int, object]:
        """The invoices, locked, with what their events' snapshots read."""
        from billing.models import Invoice

        related = {"invoice": ("customer", "subscription", "retry_policy")}
        return read_run_objects(steps, lock=True, related=related, prefetch={"invoice": (lines_prefetch(Invoice),)})

    def execute_set(self, steps: list, objects: dict[int, object]) -> dict[int, dict | Exception]:
        outcomes: dict[int, dict | Exception] = {}
        closing = {}  # invoice pk → step
        for step in steps:
            invoice = objects[step.pk]
            try:
                if (result := self._settled(step, invoice)) is not None:
                    outcomes[step.pk] = result
                    continue
            except ActionSkipped as skipped:
                outcomes[step.pk] = skipped
                continue
            closing[invoice.pk] = step
        closed, refused = services.invoices_close(
            invoices=[objects[step.pk] for step in closing.values()], target=self.target
        )
        for invoice in closed:
            outcomes[closing[invoice.pk].pk] = {"invoice": invoice.public_id, "status": invoice.status}
        for invoice_pk, message in refused.items():
            outcomes[closing[invoice_pk].pk] = ActionSkipped(message)
        return outcomes
