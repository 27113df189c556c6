"""An install made before the house was reshaped (issue 13) upgrades to today's migrations with
its rows and their links intact, and migrates back where Django allows it.

The starting point is the last migration of each app on that day: the install holds a customer,
an invoice, an event, an automation with its version, a run with its steps, the event's
matching record (then EventHandling) and handled mark, an email and a webhook delivery.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.db.migrations.loader import MigrationLoader

DJANGO_Q = ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")
BEFORE = [
    ("billing", "0005_document_fields"),
    ("automations", "0005_document_fields"),
    ("notifications", "0002_delivery_retry_until"),
    ("ops", "0002_heartbeat_per_process"),
    DJANGO_Q,
]
OURS = {"billing", "notifications", "automations", "ops", "audit", "api", "demo", "frame"}
AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _latest() -> list[tuple[str, str]]:
    """Today's last migration of each of our apps."""
    leaves = MigrationLoader(connection).graph.leaf_nodes()
    return [node for node in leaves if node[0] in OURS]


def _state_at(nodes: list[tuple[str, str]]):
    """The models as the given migrations leave them."""
    return MigrationLoader(connection).project_state(nodes, at_end=True)


def _fill(apps) -> dict[str, int]:
    """The rows an install held on that day, linked as the engine links them."""
    model = apps.get_model
    customer = model("billing", "Customer").objects.create(
        public_id="cus_upgrade", name="Acme", email="billing@acme.test", created=AT, updated=AT
    )
    invoice = model("billing", "Invoice").objects.create(
        public_id="in_upgrade", customer=customer, status="open", created=AT,
        total=Decimal("120.00"), total_currency="EUR", amount_paid=Decimal("0"), amount_paid_currency="EUR",
    )  # fmt: skip
    event = model("billing", "Event").objects.create(
        public_id="evt_upgrade", type="invoice.overdue", created=AT, object_type="invoice",
        object_id=invoice.public_id, data_object={"id": invoice.public_id, "status": "open"},
    )  # fmt: skip
    automation = model("automations", "Automation").objects.create(
        public_id="auto_upgrade", name="Overdue reminders", trigger="invoice.overdue", priority=1
    )
    version = model("automations", "AutomationVersion").objects.create(automation=automation, number=1)
    run = model("automations", "Run").objects.create(
        public_id="run_upgrade", automation=automation, version=version, trigger="invoice.overdue",
        event=event, object_type="invoice", object_id=invoice.public_id, started_at=AT,
    )  # fmt: skip
    RunStep = model("automations", "RunStep")
    done = RunStep.objects.create(
        run=run, position=0, action="send_team_email", scheduled_at=AT, status="succeeded", executed_at=AT,
        params={"recipient": "ops@acme.test"}, delay={"amount": 0, "unit": "days"},
    )  # fmt: skip
    pending = RunStep.objects.create(
        run=run, position=1, action="void_invoice", scheduled_at=AT, params={}, delay={"amount": 3, "unit": "days"}
    )
    record = model("automations", "EventHandling").objects.create(
        event=event, trigger="invoice.overdue", handled_at=AT, outcome="started", run=run,
        checks=[{"name": "Overdue reminders", "matched": True}],
    )  # fmt: skip
    model("automations", "HandledEvent").objects.create(event=event, handled_at=AT)
    email = model("notifications", "OutboundEmail").objects.create(
        public_id="em_upgrade", template="team_alert", from_email="relance@acme.test",
        recipients=["ops@acme.test"], subject="Invoice overdue", text_body="in_upgrade is overdue", created=AT,
    )  # fmt: skip
    endpoint = model("notifications", "WebhookEndpoint").objects.create(
        public_id="we_upgrade", url="https://hooks.acme.test/relance", secret="whsec_upgrade"
    )
    delivery = model("notifications", "WebhookDelivery").objects.create(
        endpoint=endpoint, event_id=event.public_id, event_type=event.type, body="{}", created=AT, retry_until=AT
    )
    return {
        "customer": customer.pk, "invoice": invoice.pk, "event": event.pk, "automation": automation.pk,
        "version": version.pk, "run": run.pk, "done": done.pk, "pending": pending.pk, "record": record.pk,
        "email": email.pk, "endpoint": endpoint.pk, "delivery": delivery.pk,
    }  # fmt: skip


def _assert_intact(apps, pks: dict[str, int], record_model: str) -> None:
    model = apps.get_model
    invoice = model("billing", "Invoice").objects.get(pk=pks["invoice"])
    assert (invoice.public_id, invoice.customer_id, invoice.status) == ("in_upgrade", pks["customer"], "open")
    assert (invoice.total.amount, str(invoice.total.currency)) == (Decimal("120.00"), "EUR")
    event = model("billing", "Event").objects.get(pk=pks["event"])
    assert (event.public_id, event.type, event.object_id) == ("evt_upgrade", "invoice.overdue", "in_upgrade")
    assert event.data_object == {"id": "in_upgrade", "status": "open"}
    run = model("automations", "Run").objects.get(pk=pks["run"])
    assert (run.automation_id, run.version_id, run.event_id) == (pks["automation"], pks["version"], pks["event"])
    assert model("automations", "AutomationVersion").objects.get(pk=pks["version"]).automation_id == pks["automation"]
    steps = model("automations", "RunStep").objects.filter(run_id=pks["run"]).order_by("position")
    assert [(s.pk, s.action, s.status) for s in steps] == [
        (pks["done"], "send_team_email", "succeeded"),
        (pks["pending"], "void_invoice", "pending"),
    ]
    assert steps[0].params == {"recipient": "ops@acme.test"}
    record = model("automations", record_model).objects.get(pk=pks["record"])
    assert (record.event_id, record.run_id, record.outcome) == (pks["event"], pks["run"], "started")
    assert record.checks == [{"name": "Overdue reminders", "matched": True}]
    assert model("automations", "HandledEvent").objects.filter(event_id=pks["event"]).count() == 1
    email = model("notifications", "OutboundEmail").objects.get(pk=pks["email"])
    assert (email.public_id, email.recipients, email.subject) == ("em_upgrade", ["ops@acme.test"], "Invoice overdue")
    delivery = model("notifications", "WebhookDelivery").objects.get(pk=pks["delivery"])
    assert (delivery.endpoint_id, delivery.event_id) == (pks["endpoint"], "evt_upgrade")


def test_an_install_from_before_the_reshaping_upgrades_to_today_with_its_rows_and_links_and_back(migrator):
    migrator.apply_initial_migration(BEFORE)
    # The initial plan runs every migration ordered before the last target, other apps' later
    # ones too: migrating to the targets takes each app back to its own (the state the executor
    # returns after going back still has the later fields, so the models come from the graph).
    migrator.apply_tested_migration(BEFORE)
    pks = _fill(_state_at(BEFORE).apps)

    today = migrator.apply_tested_migration(_latest())
    _assert_intact(today.apps, pks, "MatchingRecord")
    run = today.apps.get_model("automations", "Run").objects.get(pk=pks["run"])
    assert run.matching_record.pk == pks["record"]

    migrator.apply_tested_migration(BEFORE)
    _assert_intact(_state_at(BEFORE).apps, pks, "EventHandling")
