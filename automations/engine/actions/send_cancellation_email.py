"""Send cancellation confirmation email: to the customer, with the subscription's details, the
cancellation date and an optional survey link; signed with the account's branding, in the
customer's language."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import translation

from automations.engine.actions.base import Action, ActionSkipped, InvalidParams, register, run_object
from automations.engine.actions.common import (
    format_date,
    send_step_email,
    subscription_amount,
    subscription_items,
    subscription_of,
)
from billing.branding import branding, customer_language
from billing.models import SubscriptionStatus

MAX_URL = 500


@register
class SendCancellationEmail(Action):
    key = "send_cancellation_email"
    label = "Send cancellation confirmation email"
    allowed_triggers = {"subscription.canceled"}

    def clean(self, params: dict) -> dict:
        params = params or {}
        url = params.get("survey_url") or ""
        url = url.strip() if isinstance(url, str) else url
        if url:
            if not isinstance(url, str) or len(url) > MAX_URL:
                raise InvalidParams({"survey_url": f"The survey link can be at most {MAX_URL} characters."})
            try:
                URLValidator(schemes=["https"])(url)
            except ValidationError as exc:
                raise InvalidParams(
                    {"survey_url": "Enter the survey's full https:// address, e.g. https://example.com/survey."}
                ) from exc
        return {"survey_url": url}

    def describe(self, params: dict) -> str:
        text = "send the cancellation confirmation email"
        return text + " with a survey link" if params.get("survey_url") else text

    def execute(self, step) -> dict:
        subscription = subscription_of(run_object(step))
        if subscription is None:
            raise ActionSkipped("there is no subscription")
        if subscription.status != SubscriptionStatus.CANCELED:
            raise ActionSkipped(f"subscription is {subscription.get_status_display().lower()}, not canceled")
        customer = subscription.customer
        if not customer.email:
            raise ActionSkipped("the customer has no email address")
        # Dates, the interval and the whole message read in the customer's language.
        with translation.override(customer_language(customer)):
            context = {
                "branding": branding(),
                "customer_name": customer.name,
                "subscription": subscription.public_id,
                "items": subscription_items(subscription),
                "price": subscription_amount(subscription),
                "canceled_on": format_date(subscription.canceled_at or subscription.ended_at),
                "started_on": format_date(subscription.created),
                "survey_url": step.params.get("survey_url") or "",
            }
            email = send_step_email(
                step, to=[customer.email], template="emails/cancellation_confirmation", context=context
            )
        return {"email": email.public_id, "to": customer.email}
