"""record(): a row for each change made by a person or a key, in the transaction of the change;
nothing when no one is acting (jobs, the engine, the demo)."""

from decimal import Decimal

import pytest
from django.db import transaction
from django_q.tasks import async_task
from moneyed import Money

import audit
from audit.context import acting_as, current_actor
from audit.log import fields, plain
from audit.models import AuditEntry
from billing.models import Invoice
from billing.services import invoice_void
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


def test_it_records_nothing_when_no_one_is_acting():
    assert current_actor() is None
    assert audit.record("invoice.voided", object_id="in_1") is None
    assert not AuditEntry.objects.exists()


def test_it_records_who_did_what_to_which_object():
    invoice = make_invoice()
    with acting_as("user", "7", "eddie"):
        entry = audit.record(
            "invoice.voided", invoice, summary="By hand.", before={"status": "open"}, after={"status": "void"}
        )
    entry.refresh_from_db()
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("user", "7", "eddie")
    assert (entry.action, entry.object_type) == ("invoice.voided", "invoice")
    assert (entry.object_id, entry.object_label) == (invoice.public_id, str(invoice))
    assert entry.summary == "By hand."
    assert (entry.before, entry.after) == ({"status": "open"}, {"status": "void"})


def test_it_keeps_only_the_fields_that_changed():
    with acting_as("api_key", "key_abc", "Signup flow"):
        entry = audit.record(
            "customer.updated",
            object_id="cus_1",
            before={"name": "Ada", "email": "a@example.com"},
            after={"name": "Ada L.", "email": "a@example.com"},
        )
    assert (entry.before, entry.after) == ({"name": "Ada"}, {"name": "Ada L."})
    assert entry.actor_kind == "api_key"


def test_a_row_is_rolled_back_with_the_change():
    invoice = make_invoice()
    with acting_as("user", "7", "eddie"), pytest.raises(RuntimeError), transaction.atomic():
        invoice.description = "changed"
        invoice.save(update_fields=["description"])
        audit.record("invoice.updated", invoice)
        assert AuditEntry.objects.count() == 1  # written in the change's transaction
        raise RuntimeError("the change fails")
    assert not AuditEntry.objects.exists()
    invoice.refresh_from_db()
    assert invoice.description == ""


def test_the_actor_is_set_only_inside_the_block():
    with acting_as("user", "1", "eddie") as actor:
        assert current_actor() == actor
        with acting_as("api_key", "key_1", "CI"):
            assert current_actor().kind == "api_key"
        assert current_actor() == actor
    assert current_actor() is None


def test_an_unknown_actor_kind_is_refused():
    with pytest.raises(ValueError, match="unknown actor kind"), acting_as("robot", "1", "R2"):
        pass


def test_values_are_stored_short_and_as_json():
    invoice = make_invoice(amount="12.50")
    assert fields(invoice, "total", "customer") == {"total": "12.50 EUR", "customer": invoice.customer.public_id}
    assert plain(Decimal("1.10")) == "1.10"
    assert plain(Money("3.00", "USD")) == "3.00 USD"
    assert len(plain("x" * 1000)) == 200
    with acting_as("user", "1", "eddie"):
        entry = audit.record("invoice.updated", invoice, summary="word " * 200)
    assert len(entry.summary) <= 300


def test_people_in_the_dashboard_act_as_themselves(editor_client, editor):
    """The middleware sets the actor for a signed-in request (here: saving the settings)."""
    response = editor_client.post(
        "/settings/",
        {
            "default_currency": "USD",
            "schedule_kind": "day_offsets",
            "max_retries": "4",
            "within_days": "14",
            "day_offsets": "1, 3, 7",
            "end_behavior": "cancel_subscription",
            "team_email_domains": "acme.com",
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("user", str(editor.pk), "eddie")
    assert entry.action == "account.updated"
    assert entry.after["default_currency"] == "USD"


def void_an_invoice(invoice_id: int) -> None:
    """A django-q2 task that changes something."""
    invoice_void(invoice=Invoice.objects.get(pk=invoice_id))


def fail() -> None:
    raise RuntimeError("the task fails")


def test_a_task_runs_as_no_one_even_inside_a_request_in_sync_mode():
    """On a worker no actor is ever set; in sync mode the task runs in the caller's context."""
    invoice = make_invoice()
    with acting_as("user", "7", "eddie") as actor:
        async_task(void_an_invoice, invoice.pk)
        assert current_actor() == actor
        with pytest.raises(RuntimeError):
            async_task(fail)
        assert current_actor() == actor
        audit.record("invoice.updated", invoice)
    invoice.refresh_from_db()
    assert invoice.status == "void"
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["invoice.updated"]
