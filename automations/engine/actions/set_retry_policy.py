"""Set retry policy: attach a named retry policy (existing, or described inline and created
when the step runs) to the failed invoice, then hold the run until the policy is exhausted.

After a hard decline billing schedules no retry until the card changes: the run then waits for
a new card until the policy's time window ends (its last retry's day), and goes on from there if
no card came. It never waits forever on a card that may never change."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from automations.engine.actions.base import (
    Action,
    ActionError,
    ActionSkipped,
    ActionWait,
    InvalidParams,
    register,
    run_object,
)
from automations.engine.actions.common import format_datetime, invoice_state
from automations.triggers import PAYMENT_FAILED
from billing import clock, services
from billing.errors import BillingError
from billing.models import InvoiceStatus, RetryPolicy, ScheduleKind
from billing.services.invoices import retry_hold, retry_window_end, scheduled_retry_time

POLICY_FIELDS = ("name", "schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior")

# The payment retry job runs every minute: look again a little after a retry is due, so that
# it has happened by then.
RETRY_GRACE = timedelta(minutes=2)


def _offsets(value):
    """Day offsets as a list; a form may send "1, 3, 7"."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return value  # the model's validation says what is wrong
    return value


def _schedule(policy: RetryPolicy) -> dict:
    return {field: getattr(policy, field) for field in POLICY_FIELDS}


def clean_new_policy(raw) -> dict:
    """Validate an inline policy with the model's own validation; returns its fields."""
    if not isinstance(raw, dict):
        raise InvalidParams({"new_policy": "Describe the new retry policy."})
    name = raw.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise InvalidParams({"name": "Name the new retry policy."})
    fields = {f: raw[f] for f in POLICY_FIELDS[1:] if raw.get(f) not in (None, "")}
    if "day_offsets" in fields:
        fields["day_offsets"] = _offsets(fields["day_offsets"])
    policy = RetryPolicy(name=name, **fields)
    if policy.schedule_kind == ScheduleKind.WITHIN_DAYS:
        policy.day_offsets = []
    try:
        policy.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidParams({field: " ".join(messages) for field, messages in exc.message_dict.items()}) from exc
    cleaned = _schedule(policy)
    existing = RetryPolicy.objects.filter(name=name).first()
    if existing is not None and _schedule(existing) != cleaned:
        raise InvalidParams(
            {
                "name": f"A retry policy named “{name}” already exists with another schedule; choose it, or pick another name."
            }
        )
    return cleaned


@register
class SetRetryPolicy(Action):
    key = "set_retry_policy"
    label = "Set retry policy"
    allowed_triggers = {PAYMENT_FAILED}

    def clean(self, params: dict) -> dict:
        params = params or {}
        name, new = params.get("policy"), params.get("new_policy")
        if name and new:
            raise InvalidParams({"policy": "Choose an existing retry policy or describe a new one, not both."})
        if new:
            return {"new_policy": clean_new_policy(new)}
        if not isinstance(name, str) or not name.strip():
            raise InvalidParams({"policy": "Choose a retry policy, or describe a new one."})
        name = name.strip()
        if not RetryPolicy.objects.filter(name=name).exists():
            raise InvalidParams({"policy": f"There is no retry policy named “{name}”."})
        return {"policy": name}

    def describe(self, params: dict) -> str:
        if "new_policy" in params:
            new = params["new_policy"]
            return f"start retry policy {new['name']} (new: {RetryPolicy(**new).describe_schedule()})"
        return f"start retry policy {params['policy']}"

    def _policy(self, params: dict) -> RetryPolicy:
        if "new_policy" in params:
            fields = dict(params["new_policy"])
            name = fields.pop("name")
            try:
                with transaction.atomic():
                    return RetryPolicy.objects.get_or_create(name=name, defaults=fields)[0]
            except IntegrityError:  # created by a concurrent twin of this step
                return RetryPolicy.objects.get(name=name)
        policy = RetryPolicy.objects.filter(name=params["policy"]).first()
        if policy is None:
            # Going on would run the next steps (cancel, write off…) without the retries: stop here.
            raise ActionError(f"The retry policy “{params['policy']}” no longer exists.", permanent=True)
        return policy

    def execute(self, step) -> dict:
        """1. A paid (or otherwise closed) invoice skips the step.
        2. Attach the policy, once: a repeat finds it attached, and a wake-up after a wait leaves
           alone a policy someone changed by hand meanwhile.
        3. While retries remain, hold the run until a little after the next retry.
        4. After a hard decline (no retry until the card changes), hold the run until a little
           after the policy's time window ends: a new card retries at once and the schedule
           resumes (step 3 on the next wake-up); a paid or voided invoice ends or skips the run.
           Once the window has ended with no new card, the run goes on.
        5. Once retries are exhausted (no next attempt), the run goes on."""
        invoice = run_object(step)
        if invoice.status == InvoiceStatus.PAID:
            raise ActionSkipped("invoice paid")
        if invoice.status != InvoiceStatus.OPEN:
            raise ActionSkipped(invoice_state(invoice))
        policy = self._policy(step.params)
        already_waiting = bool(step.result and "waiting" in step.result)  # attached on an earlier wake-up
        if invoice.retry_policy_id != policy.pk and not already_waiting:
            try:
                invoice = services.invoice_update(invoice=invoice, retry_policy=policy)
            except BillingError as exc:
                raise ActionSkipped(exc.message) from exc
        if invoice.status == InvoiceStatus.OPEN and invoice.next_payment_attempt is not None:
            now = clock.now(customer=invoice.customer)
            until = max(invoice.next_payment_attempt, now) + RETRY_GRACE
            raise ActionWait(
                until=until,
                reason=f"waiting for the retry policy: next retry at {format_datetime(invoice.next_payment_attempt)}",
            )
        outcome = "retries exhausted"
        if invoice.status == InvoiceStatus.OPEN and scheduled_retry_time(invoice) is not None:
            held_by = retry_hold(invoice)
            if held_by is not None:
                now = clock.now(customer=invoice.customer)
                window_end = retry_window_end(invoice)
                if window_end > now:
                    raise ActionWait(
                        until=window_end + RETRY_GRACE,
                        reason=f"waiting for a new card: hard decline ({held_by.failure_code}), no automatic "
                        f"retry until the card changes (retry window ends {format_datetime(window_end)})",
                    )
                outcome = f"hard decline ({held_by.failure_code}): no new card within the retry window"
        return {
            "invoice": invoice.public_id,
            "policy": policy.name,
            "attempts": invoice.attempt_count,
            "outcome": outcome,
        }
