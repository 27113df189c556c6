"""Send email to a team member: a memo with placeholders, plus the trigger's details, to a
team user or an address in one of the account's team email domains."""

import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q

from automations.engine.accounts import team_email_domains
from automations.engine.actions.base import (
    Action,
    ActionSkipped,
    InvalidParams,
    read_run_objects,
    register,
    run_object,
)
from automations.engine.actions.common import batch_memo, object_details, send_step_email, send_step_emails
from automations.triggers import ALL_TRIGGERS, TRIGGERS
from frame.permissions import EDITORS, VIEWERS

MAX_MESSAGE = 5000
PLACEHOLDERS = ("customer", "number", "amount", "days_overdue", "link")
_PLACEHOLDER = re.compile(r"\{\s*([a-z_]+)\s*\}")


def team_members():
    """Active users with a role (editors, viewers) or superusers, who have an email address."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=[EDITORS, VIEWERS]))
        .exclude(email="")
        .distinct()
    )


def recipient_problem(recipient: str) -> str | None:
    """Why `recipient` may not receive team emails, or None when it may."""
    if team_members().filter(email__iexact=recipient).exists():
        return None
    domains = team_email_domains()
    if recipient.rpartition("@")[2].lower() in domains:
        return None
    if domains:
        return f"{recipient} must be a team member or an address at one of: {', '.join(domains)}."
    return f"{recipient} must be a team member (no team email domains are set in Settings)."


def render_memo(message: str, values: dict) -> str:
    """Fill in the known {placeholders}; anything else in braces is left as written."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, message)


TEMPLATE = "emails/team_memo"


@register
class SendTeamEmail(Action):
    key = "send_team_email"
    label = "Send email to a team member"
    allowed_triggers = set(ALL_TRIGGERS)
    acts_as_set = True

    def clean(self, params: dict) -> dict:
        params = params or {}
        errors: dict[str, str] = {}
        recipient = params.get("recipient")
        recipient = recipient.strip() if isinstance(recipient, str) else ""
        if not recipient:
            errors["recipient"] = "Enter the team member's email address."
        else:
            try:
                validate_email(recipient)
            except ValidationError:
                errors["recipient"] = f"{recipient} is not a valid email address."
            else:
                if problem := batch_memo(("recipient", recipient.lower()), lambda: recipient_problem(recipient)):
                    errors["recipient"] = problem
        message = params.get("message")
        message = message.strip() if isinstance(message, str) else ""
        if not message:
            errors["message"] = "Write the message to send."
        elif len(message) > MAX_MESSAGE:
            errors["message"] = f"The message can be at most {MAX_MESSAGE} characters (it has {len(message)})."
        if errors:
            raise InvalidParams(errors)
        return {"recipient": recipient, "message": message}

    def describe(self, params: dict) -> str:
        return f"email {params['recipient']}"

    def execute(self, step) -> dict:
        recipient = step.params["recipient"]
        # The team may have changed since the step was saved: never mail someone who left.
        if problem := batch_memo(("recipient", recipient.lower()), lambda: recipient_problem(recipient)):
            raise ActionSkipped(problem)
        email = send_step_email(step, to=[recipient], template=TEMPLATE, context=self._context(step, run_object(step)))
        return {"email": email.public_id, "to": recipient}

    def read_set(self, steps: list) -> dict[int, object]:
        related = {"invoice": ("customer", "subscription")}
        return read_run_objects(steps, related=related)

    def execute_set(self, steps: list, objects: dict[int, object]) -> dict[int, dict | Exception]:
        outcomes: dict[int, dict | Exception] = {}
        emails = []
        for step in steps:
            recipient = step.params["recipient"]
            if problem := batch_memo(("recipient", recipient.lower()), lambda r=recipient: recipient_problem(r)):
                outcomes[step.pk] = ActionSkipped(problem)
                continue
            emails.append((step, [recipient], TEMPLATE, self._context(step, objects[step.pk])))
        sent = send_step_emails(emails)
        for step, to, *_ in emails:
            outcomes[step.pk] = {"email": sent[step.pk].public_id, "to": to[0]}
        return outcomes

    def _context(self, step, obj) -> dict:
        details = object_details(obj)
        values = {
            "customer": details["customer_name"],
            "number": details["number"],
            "amount": details["amount"],
            "days_overdue": details["days_overdue"],
            "link": details["link"],
        }
        run = step.run
        trigger = TRIGGERS.get(run.trigger)
        return {
            **details,
            "memo": render_memo(step.params["message"], values),
            "automation": run.automation.name,
            "trigger_label": trigger.label if trigger else run.trigger,
            "object_label": details["kind"].capitalize(),
        }
