"""Runs on a test clock carry its badge in the automation's run rows and on the run's timeline."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import AccountSettings
from billing.services.test_clocks import clock_create
from tests.automations.test_engine import VOID, automation
from tests.automations.test_services_runs import make_run

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def test_the_run_rows_badge_the_runs_on_a_clock_only(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    clocked = make_run(auto, object_id="in_clocked", test_clock=test_clock)
    real = make_run(auto, object_id="in_real")
    response = viewer_client.get(reverse("automation_detail", args=[auto.public_id]))
    assert response.status_code == 200
    rows = {row.split('"', 1)[0]: row for row in response.text.split('<tr data-run="')[1:]}
    assert "Test clock: Rehearsal" in rows[clocked.public_id]
    assert "Test clock:" not in rows[real.public_id]


def test_the_run_rows_on_many_clocks_take_no_query_per_row(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    url = reverse("automation_detail", args=[auto.public_id])
    make_run(auto, object_id="in_real")
    AccountSettings.load()  # made on first use (the recovery panel reads the currency): not a row's cost
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(url)
    for n in range(8):
        test_clock = clock_create(name=f"Rehearsal {n}", frozen_time=START)
        make_run(auto, object_id=f"in_{n}", test_clock=test_clock)
    with CaptureQueriesContext(connection) as many:
        response = viewer_client.get(url)
    assert response.text.count("Test clock: Rehearsal") == 8
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_run_page_on_a_clock_says_its_times_are_simulated(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    run = make_run(auto, test_clock=test_clock)
    response = viewer_client.get(reverse("run_detail", args=[auto.public_id, run.public_id]))
    assert response.status_code == 200
    assert "Test clock: Rehearsal" in response.text
    assert f'href="/test-clocks/{test_clock.public_id}/"' in response.text
    assert "every time on this page is simulated" in response.text


def test_a_real_time_run_page_has_no_badge(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    run = make_run(auto)
    response = viewer_client.get(reverse("run_detail", args=[auto.public_id, run.public_id]))
    assert "Test clock:" not in response.text
