"""Named retry policies the dashboard edits, refused while invoices or automations use them.

Field problems raise Django's ValidationError with a message per field (a form shows them next
to its inputs); a change that cannot be made as a whole raises a BillingError.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, ProtectedError

import audit
from billing.errors import BillingError
from billing.models import RetryPolicy, ScheduleKind

SCHEDULE_FIELDS = ("schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior")


class RetryPolicyInUse(BillingError):
    """The policy is attached to invoices or started by automations: deleting it would break them."""


@dataclass
class PolicyUsage:
    invoices: int = 0
    automations: list[str] = field(default_factory=list)

    @property
    def in_use(self) -> bool:
        return bool(self.invoices or self.automations)

    def describe(self) -> str:
        parts = []
        if self.automations:
            n = len(self.automations)
            parts.append(f"{n} automation{'s' if n != 1 else ''} ({', '.join(self.automations)})")
        if self.invoices:
            parts.append(f"{self.invoices} invoice{'s' if self.invoices != 1 else ''}")
        return " and ".join(parts)


# What starts a policy elsewhere, without billing knowing who (dependencies point one way):
# automations registers a provider in its `ready()`. A provider returns policy name → names of
# what starts it, in a fixed number of queries.
PolicyReferences = Callable[[], Mapping[str, Iterable[str]]]
POLICY_REFERENCES: list[PolicyReferences] = []


def register_policy_references(provider: PolicyReferences) -> PolicyReferences:
    """Add a provider once (ready() may run more than once in tests)."""
    if provider not in POLICY_REFERENCES:
        POLICY_REFERENCES.append(provider)
    return provider


def _references_by_name() -> dict[str, set[str]]:
    """Policy name → names of the automations that start it, from every registered provider."""
    references: dict[str, set[str]] = defaultdict(set)
    for provider in POLICY_REFERENCES:
        for name, users in provider().items():
            references[name].update(users)
    return references


def retry_policies_with_usage() -> list[tuple[RetryPolicy, PolicyUsage]]:
    """Every policy by name, with what uses it (three queries in all)."""
    policies = RetryPolicy.objects.annotate(invoice_count=Count("invoices")).order_by("name")
    references = _references_by_name()
    return [(policy, PolicyUsage(policy.invoice_count, sorted(references.get(policy.name, ())))) for policy in policies]


def retry_policy_usage(policy: RetryPolicy) -> PolicyUsage:
    return PolicyUsage(
        invoices=policy.invoices.count(),
        automations=sorted(_references_by_name().get(policy.name, ())),
    )


def _check_policy(policy: RetryPolicy) -> None:
    if policy.schedule_kind == ScheduleKind.WITHIN_DAYS:
        # Offsets of the other schedule would only make two equal schedules look different.
        policy.day_offsets = []
    policy.full_clean(validate_unique=False)
    clash = RetryPolicy.objects.filter(name__iexact=policy.name)
    if policy.pk:
        clash = clash.exclude(pk=policy.pk)
    if clash.exists():
        raise ValidationError({"name": f"A retry policy named “{policy.name}” already exists: choose another name."})


def retry_policy_create(*, name: str, **schedule) -> RetryPolicy:
    """A new named policy; ValidationError (per field) when the name or schedule is not valid."""
    unknown = set(schedule) - set(SCHEDULE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown retry policy fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        policy = RetryPolicy(name=(name or "").strip(), **schedule)
        _check_policy(policy)
        policy.save()
        audit.record("retry_policy.created", policy, summary=policy.describe_schedule(), after=_audited(policy))
    return policy


def _audited(policy: RetryPolicy) -> dict:
    return audit.fields(policy, "name", *SCHEDULE_FIELDS)


def retry_policy_update(*, policy: RetryPolicy, name: str, **schedule) -> RetryPolicy:
    """Change a policy's name or schedule.

    1. Lock the row and apply the changes; check them as for a new policy.
    2. Refuse a new name while automations start the policy by its old name (they would stop
       finding it). Invoices hold the policy itself, so they keep it under the new name.
    3. Save: the new schedule applies to the next retries of the invoices using it.
    """
    unknown = set(schedule) - set(SCHEDULE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown retry policy fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        policy = RetryPolicy.objects.select_for_update().get(pk=policy.pk)
        old_name, before = policy.name, _audited(policy)
        policy.name = (name or "").strip()
        for key, value in schedule.items():
            setattr(policy, key, value)
        _check_policy(policy)
        if policy.name != old_name:
            users = sorted(_references_by_name().get(old_name, ()))
            if users:
                raise ValidationError(
                    {
                        "name": f"Automations start this policy by its name ({', '.join(users)}): "
                        "keep the name, or choose another policy in those automations first."
                    }
                )
        policy.save()
        audit.record(
            "retry_policy.updated", policy, summary=policy.describe_schedule(), before=before, after=_audited(policy)
        )
    return policy


def retry_policy_delete(*, policy: RetryPolicy) -> None:
    """Delete a policy nothing uses; RetryPolicyInUse says what still does."""
    with transaction.atomic():
        policy = RetryPolicy.objects.select_for_update().filter(pk=policy.pk).first()
        if policy is None:
            return  # already gone: deleting twice is not an error
        usage = retry_policy_usage(policy)
        if usage.in_use:
            raise RetryPolicyInUse(
                f"“{policy.name}” is used by {usage.describe()}, so it cannot be deleted. "
                "Choose another policy there first."
            )
        pk, label, before = str(policy.pk), str(policy), _audited(policy)
        try:
            policy.delete()
        except ProtectedError:  # an invoice took it meanwhile
            raise RetryPolicyInUse(f"“{policy.name}” is now used by an invoice, so it cannot be deleted.") from None
        audit.record("retry_policy.deleted", object_id=pk, label=label, before=before)
