"""Domain errors: billing's refusals are BillingErrors; automations and notifications refuse with
errors of their own on a neutral base, DomainError, which the admin and views turn into messages."""

import pytest

from automations.services.definitions import AutomationArchived, DefinitionError
from automations.services.runs import RunNotActive
from billing.errors import BillingError, DomainError, InvalidTransition
from notifications.services.endpoints import EndpointError


def test_it_keeps_billing_refusals_billing_errors_and_domain_errors():
    assert issubclass(InvalidTransition, BillingError) and issubclass(BillingError, DomainError)


@pytest.mark.parametrize("error", [DefinitionError, RunNotActive, AutomationArchived, EndpointError])
def test_it_gives_automation_and_endpoint_errors_the_domain_base_not_billings(error):
    assert issubclass(error, DomainError) and not issubclass(error, BillingError)


def test_it_keeps_the_message_a_person_reads():
    assert DomainError("This automation is already archived.").message == "This automation is already archived."
