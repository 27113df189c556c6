"""Settings the dashboard edits: named retry policies and exchange rates.

Field problems raise Django's ValidationError with a message per field (a form shows them next
to its inputs); a change that cannot be made as a whole raises a BillingError.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, ProtectedError, QuerySet
from djmoney.contrib.exchange.models import ExchangeBackend, Rate, get_default_backend_name
from moneyed import CurrencyDoesNotExist, get_currency

from billing.errors import BillingError
from billing.models import AccountSettings, RetryPolicy, ScheduleKind
from billing.permissions import EDITORS, VIEWERS

SCHEDULE_FIELDS = ("schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior")

# A rate is "units of the currency per 1 unit of the base currency", stored with 6 decimals.
RATE_PLACES = Decimal("0.000001")
MIN_RATE = RATE_PLACES
MAX_RATE = Decimal("1000000")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class RetryPolicyInUse(BillingError):
    """The policy is attached to invoices or started by automations: deleting it would break them."""


# --- Retry policies ---------------------------------------------------------------------------


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


def _automation_references() -> dict[str, set[str]]:
    """Policy name → names of the automations that start it.

    The "Set retry policy" action refers to a policy by name in its JSON parameters, so no
    foreign key protects it: look at the current definition of every automation that is not
    archived, and at the steps of runs in progress (which may use an older version). Billing
    does not import the automations app; it reads its tables when the app is installed.
    Two queries, whatever the number of automations.
    """
    if not apps.is_installed("automations"):
        return {}
    automation_model = apps.get_model("automations", "Automation")
    step_model = apps.get_model("automations", "RunStep")
    references: dict[str, set[str]] = defaultdict(set)

    def add(params, automation: str) -> None:
        if not isinstance(params, dict):
            return
        name = params.get("policy")
        new = params.get("new_policy")
        if not name and isinstance(new, dict):
            name = new.get("name")
        if isinstance(name, str) and name:
            references[name].add(automation)

    definitions = automation_model.objects.filter(archived_at__isnull=True, current_version__isnull=False)
    for automation, steps in definitions.values_list("name", "current_version__steps"):
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, dict) and step.get("action") == "set_retry_policy":
                add(step.get("params"), automation)
    waiting = step_model.objects.filter(
        action="set_retry_policy", status__in=["pending", "running"], run__status="active"
    ).values_list("params", "run__automation__name")
    for params, automation in waiting:
        add(params, automation)
    return references


def retry_policies_with_usage() -> list[tuple[RetryPolicy, PolicyUsage]]:
    """Every policy by name, with what uses it (three queries in all)."""
    policies = RetryPolicy.objects.annotate(invoice_count=Count("invoices")).order_by("name")
    references = _automation_references()
    return [(policy, PolicyUsage(policy.invoice_count, sorted(references.get(policy.name, ())))) for policy in policies]


def retry_policy_usage(policy: RetryPolicy) -> PolicyUsage:
    return PolicyUsage(
        invoices=policy.invoices.count(),
        automations=sorted(_automation_references().get(policy.name, ())),
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
    return policy


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
        old_name = policy.name
        policy.name = (name or "").strip()
        for key, value in schedule.items():
            setattr(policy, key, value)
        _check_policy(policy)
        if policy.name != old_name:
            users = sorted(_automation_references().get(old_name, ()))
            if users:
                raise ValidationError(
                    {
                        "name": f"Automations start this policy by its name ({', '.join(users)}): "
                        "keep the name, or choose another policy in those automations first."
                    }
                )
        policy.save()
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
        try:
            policy.delete()
        except ProtectedError:  # an invoice took it meanwhile
            raise RetryPolicyInUse(f"“{policy.name}” is now used by an invoice, so it cannot be deleted.") from None


# --- Exchange rates ---------------------------------------------------------------------------


def rate_backend() -> ExchangeBackend | None:
    return ExchangeBackend.objects.filter(name=get_default_backend_name()).first()


def exchange_rate_list() -> QuerySet[Rate]:
    """The rates the dashboard converts with (the default backend's), by currency: one query."""
    return Rate.objects.filter(backend__name=get_default_backend_name()).select_related("backend").order_by("currency")


def clean_currency_code(code) -> str:
    """A currency code py-moneyed knows, e.g. "USD" (lower case is accepted and raised)."""
    code = code.strip().upper() if isinstance(code, str) else ""
    if not CURRENCY_CODE.fullmatch(code):
        raise ValidationError({"currency": "Enter a currency code of three letters, e.g. USD."})
    try:
        get_currency(code)
    except CurrencyDoesNotExist:
        raise ValidationError({"currency": f"“{code}” is not a known currency code."}) from None
    return code


def clean_rate_value(value) -> Decimal:
    """A positive rate within sane bounds, rounded half-up to 6 decimals."""
    try:
        value = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"value": "Enter the rate as a number, e.g. 1.08."}) from None
    if not value.is_finite():
        raise ValidationError({"value": "Enter the rate as a number, e.g. 1.08."})
    if not MIN_RATE <= value <= MAX_RATE:
        raise ValidationError({"value": f"Enter a rate from {MIN_RATE} to {MAX_RATE:,}."})
    return value.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _clear_rate_cache(backend: str, currencies: set[str]) -> None:
    """django-money caches each conversion rate for 10 minutes under its currency pair: forget
    every pair that involves the stored currencies, or conversions keep the old rate."""
    codes = sorted(currencies | set(settings.CURRENCIES))
    keys = [f"djmoney:get_rate:{a}:{b}:{backend}" for a in codes for b in codes if a != b]
    cache.delete_many(keys)


def _forget_rates(backend: ExchangeBackend, changed: str) -> None:
    currencies = set(Rate.objects.filter(backend=backend).values_list("currency", flat=True))
    currencies |= {backend.base_currency, changed}
    _clear_rate_cache(backend.name, currencies)
    # Also after the commit: a conversion between now and then would cache the old rate again.
    transaction.on_commit(lambda: _clear_rate_cache(backend.name, currencies))


def exchange_rate_set(*, currency: str, value) -> Rate:
    """Add or change the rate of `currency` against the base currency (1 base = value currency).

    The first rate creates the rate table of the default backend, based on the account's
    default currency. The base currency's own rate is always 1."""
    currency = clean_currency_code(currency)
    value = clean_rate_value(value)
    with transaction.atomic():
        backend, _ = ExchangeBackend.objects.get_or_create(
            name=get_default_backend_name(), defaults={"base_currency": AccountSettings.load().default_currency}
        )
        if currency == backend.base_currency and value != 1:
            raise ValidationError({"currency": f"{currency} is the base currency: its rate is always 1."})
        rate, _ = Rate.objects.update_or_create(backend=backend, currency=currency, defaults={"value": value})
        _forget_rates(backend, currency)
    return rate


def exchange_rate_delete(*, currency: str) -> bool:
    """Remove a currency's rate (amounts in it can no longer be converted). False if there was none."""
    with transaction.atomic():
        backend = rate_backend()
        if backend is None:
            return False
        deleted, _ = Rate.objects.filter(backend=backend, currency=currency).delete()
        if deleted:
            _forget_rates(backend, currency)
    return bool(deleted)


# --- Team -------------------------------------------------------------------------------------

SUPERUSER, EDITOR, VIEWER, NO_ROLE = "Superuser", "Editor", "Viewer", "No role"


@dataclass(frozen=True)
class TeamMember:
    user: object
    role: str

    @property
    def can_edit(self) -> bool:
        return self.user.is_active and self.role in (SUPERUSER, EDITOR)


def member_role(user) -> str:
    """Superusers can do everything; otherwise the role is the group ("Editors" wins over "Viewers")."""
    if user.is_superuser:
        return SUPERUSER
    groups = {group.name for group in user.groups.all()}
    if EDITORS in groups:
        return EDITOR
    if VIEWERS in groups:
        return VIEWER
    return NO_ROLE


def team_overview(users) -> list[TeamMember]:
    """Each user of the (already sliced) page with their role; the groups come in one more query."""
    return [TeamMember(user, member_role(user)) for user in users]


def team_users() -> QuerySet:
    """Everyone who can log in or could (inactive users too), active ones first."""
    return get_user_model().objects.prefetch_related("groups").order_by("-is_active", "username")
