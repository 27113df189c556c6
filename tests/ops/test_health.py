"""GET /health/ tells load balancers and monitoring whether the database, the broker and the
workers are alive, and how many due steps are late."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ops import heartbeats
from ops.models import Heartbeat
from tests.automations.test_engine import automation

pytestmark = pytest.mark.django_db


def _alive(*kinds, ago=timedelta(seconds=1), host="worker-1", pid=100):
    """A process of each kind that last beat `ago`."""
    for kind in kinds:
        beat_at = timezone.now() - ago
        Heartbeat.objects.update_or_create(
            kind=kind, host=host, pid=pid, defaults={"beat_at": beat_at, "started_at": beat_at - timedelta(hours=1)}
        )


TOKEN = "health-token-for-monitoring-0123456789"


@pytest.fixture
def client(client, settings):
    """Monitoring's client: it sends the health token, so it reads the details."""
    settings.HEALTH_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


@pytest.fixture
def anonymous(settings):
    from django.test import Client

    settings.HEALTH_TOKEN = TOKEN
    return Client()


def test_it_answers_anyone_without_logging_in_and_is_never_cached(anonymous):
    response = anonymous.get(reverse("health"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]


def test_an_anonymous_caller_reads_the_status_only(anonymous):
    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    assert anonymous.get(reverse("health")).json() == {"status": "ok"}
    assert anonymous.get(reverse("health"), {"strict": "1"}).json() == {"status": "ok"}


@pytest.mark.parametrize(
    "credentials",
    [{"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Basic " + TOKEN}, {"QUERY_STRING": "token="}],
    ids=["wrong-bearer", "not-bearer", "empty-query-token"],
)
def test_a_wrong_token_reads_the_status_only(anonymous, credentials):
    assert set(anonymous.get(reverse("health"), **credentials).json()) == {"status"}


def test_without_a_token_setting_no_token_opens_the_details(anonymous, settings):
    settings.HEALTH_TOKEN = ""
    assert set(anonymous.get(reverse("health"), HTTP_AUTHORIZATION="Bearer ").json()) == {"status"}
    assert set(anonymous.get(reverse("health"), {"token": ""}).json()) == {"status"}


def test_the_token_opens_the_details_as_a_bearer_header_or_a_query_parameter(client, anonymous):
    body = client.get(reverse("health")).json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert "queued" in body["broker"]["detail"]
    assert "database" in anonymous.get(reverse("health"), {"token": TOKEN}).json()


def test_a_signed_in_staff_user_reads_the_details_and_other_users_do_not(anonymous, editor):
    anonymous.force_login(editor)
    assert set(anonymous.get(reverse("health")).json()) == {"status"}
    editor.is_staff = True
    editor.save()
    assert "dispatcher" in anonymous.get(reverse("health")).json()


def test_an_anonymous_caller_gets_the_same_http_status_as_monitoring(anonymous, settings):
    _alive(heartbeats.WORKER)
    _alive(heartbeats.DISPATCHER, ago=timedelta(minutes=5))
    assert anonymous.get(reverse("health")).status_code == 200
    response = anonymous.get(reverse("health"), {"strict": "1"})
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}
    settings.Q_CLUSTER = {"name": "relance", "redis": "redis://127.0.0.1:1/0"}
    response = anonymous.get(reverse("health"))
    assert (response.status_code, response.json()) == (503, {"status": "down"})


def test_without_heartbeats_the_workers_are_reported_missing_and_the_status_is_degraded(client):
    body = client.get(reverse("health")).json()
    assert body["status"] == "degraded"
    assert body["dispatcher"] == {"ok": False, "alive": 0, "last_beat": None, "age_seconds": None, "host": ""}
    assert body["worker"]["ok"] is False
    assert (body["dispatchers"], body["workers"]) == ([], [])


def test_with_fresh_heartbeats_and_nothing_late_the_status_is_ok(client):
    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    body = client.get(reverse("health")).json()
    assert body["status"] == "ok"
    assert body["dispatcher"]["ok"] is True
    assert body["dispatcher"]["age_seconds"] < 5
    assert body["steps"] == {"overdue": 0, "oldest_overdue_seconds": None}


def test_a_stale_dispatcher_degrades_and_strict_mode_answers_503(client):
    _alive(heartbeats.WORKER)
    _alive(heartbeats.DISPATCHER, ago=timedelta(minutes=5))
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["dispatcher"]["age_seconds"] >= 300
    assert client.get(reverse("health"), {"strict": "1"}).status_code == 503


def test_due_steps_waiting_longer_than_a_minute_are_counted_as_overdue(client, django_capture_on_commit_callbacks):
    from automations.models import RunStep
    from billing import services as billing
    from tests.factories import make_invoice

    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    void = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}
    automation("invoice.overdue", [void])
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        billing.invoice_mark_overdue(invoice=invoice)
    RunStep.objects.update(scheduled_at=timezone.now() - timedelta(minutes=5))

    body = client.get(reverse("health")).json()
    assert body["status"] == "degraded"
    assert body["steps"]["overdue"] == 1
    assert body["steps"]["oldest_overdue_seconds"] >= 299


def test_steps_on_a_test_clock_wait_for_their_clock_and_are_never_overdue(client, django_capture_on_commit_callbacks):
    from automations.models import RunStep
    from billing import services as billing
    from billing.services.test_clocks import clock_create
    from tests.factories import make_invoice

    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    automation("invoice.overdue", [{"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}])
    test_clock = clock_create(name="Rehearsal", frozen_time=timezone.now() - timedelta(days=30))
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=31))
    invoice.customer.test_clock = test_clock
    invoice.customer.save()
    with django_capture_on_commit_callbacks(execute=True):
        billing.invoice_mark_overdue(invoice=invoice)
    assert RunStep.objects.get().scheduled_at < timezone.now() - timedelta(days=29)  # due in the clock's time

    body = client.get(reverse("health")).json()
    assert body["status"] == "ok"
    assert body["steps"]["overdue"] == 0


def test_an_unreachable_broker_answers_503_down(client, settings):
    settings.Q_CLUSTER = {"name": "relance", "redis": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["broker"]["ok"] is False
    assert "ConnectionError" in body["broker"]["detail"]


def test_it_only_answers_reads(client):
    assert client.post(reverse("health")).status_code == 405


def test_it_lists_every_dispatcher_and_cluster_with_its_host_pid_and_last_beat(client):
    _alive(heartbeats.DISPATCHER, host="worker-1", pid=10)
    _alive(heartbeats.WORKER, host="worker-1", pid=20)
    _alive(heartbeats.WORKER, host="worker-2", pid=20, ago=timedelta(seconds=8))
    body = client.get(reverse("health")).json()
    assert body["status"] == "ok"
    assert [(p["host"], p["pid"]) for p in body["dispatchers"]] == [("worker-1", 10)]
    assert [(p["host"], p["pid"]) for p in body["workers"]] == [("worker-1", 20), ("worker-2", 20)]
    second = body["workers"][1]
    assert second["ok"] is True and 8 <= second["age_seconds"] < 13
    assert set(second) == {
        "host", "pid", "started_at", "last_beat", "age_seconds", "ok", "queued", "stalled_seconds", "wedged"
    }  # fmt: skip
    assert body["wedged"] == []
    assert body["worker"]["alive"] == 2 and body["worker"]["ok"] is True
    assert body["worker"]["host"] == "worker-1"  # the freshest beat


def test_one_quiet_cluster_while_another_beats_degrades_the_status(client):
    _alive(heartbeats.DISPATCHER)
    _alive(heartbeats.WORKER, host="worker-1")
    _alive(heartbeats.WORKER, host="worker-2", ago=timedelta(minutes=3))
    body = client.get(reverse("health")).json()
    assert body["status"] == "degraded"
    assert body["worker"]["ok"] is True and body["worker"]["alive"] == 1
    quiet = [p for p in body["workers"] if not p["ok"]]
    assert [(p["host"], p["age_seconds"] >= 180) for p in quiet] == [("worker-2", True)]


def test_a_second_dispatcher_gone_quiet_degrades_the_status(client):
    _alive(heartbeats.WORKER)
    _alive(heartbeats.DISPATCHER, pid=1)
    _alive(heartbeats.DISPATCHER, pid=2, ago=timedelta(minutes=2))
    assert client.get(reverse("health")).json()["status"] == "degraded"


def test_a_process_silent_for_longer_than_an_hour_is_forgotten(client):
    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    _alive(heartbeats.WORKER, host="gone", ago=heartbeats.FORGET_AFTER + timedelta(minutes=1))
    body = client.get(reverse("health")).json()
    assert body["status"] == "ok"
    assert "gone" not in {p["host"] for p in body["workers"]}


def test_a_running_step_whose_lease_expired_counts_as_overdue(client, django_capture_on_commit_callbacks):
    from automations.models import RunStep
    from billing import services as billing
    from tests.factories import make_invoice

    _alive(heartbeats.DISPATCHER, heartbeats.WORKER)
    void = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}
    automation("invoice.overdue", [void])
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        billing.invoice_mark_overdue(invoice=invoice)
    RunStep.objects.update(
        status="running", scheduled_at=timezone.now() - timedelta(minutes=10),
        claimed_until=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    body = client.get(reverse("health")).json()
    assert body["status"] == "degraded"
    assert body["steps"]["overdue"] == 1
    assert body["steps"]["oldest_overdue_seconds"] >= 599

    RunStep.objects.update(claimed_until=timezone.now() + timedelta(minutes=1))  # a live claim is not late
    assert client.get(reverse("health")).json()["steps"]["overdue"] == 0
