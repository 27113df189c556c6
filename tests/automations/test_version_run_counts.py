"""An automation's versions list their runs, counted up to a cap (a busy version has more runs
than is worth counting on every page view)."""

import pytest
from django.utils import timezone

from automations import selectors
from bench import engine_data as data

pytestmark = pytest.mark.django_db


def test_a_version_counts_its_runs_up_to_the_cap_and_says_when_there_are_more(monkeypatch):
    automation = data.step_automation()
    data.make_due_steps(data.make_invoices(3), lambda i: timezone.now(), automation)
    [row], total = selectors.automation_versions(automation)
    assert (row.runs, row.runs_capped, total) == (3, False, 1)

    monkeypatch.setattr(selectors, "RUN_COUNT_CAP", 2)
    [row], _ = selectors.automation_versions(automation)
    assert (row.runs, row.runs_capped) == (2, True)  # shown as "2+"


def test_the_automation_page_pages_its_runs_without_counting_them_all(client, editor, monkeypatch):
    from frame import lists

    automation = data.step_automation()
    data.make_due_steps(data.make_invoices(4), lambda i: timezone.now(), automation)
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    monkeypatch.setattr(selectors, "RUN_COUNT_CAP", 3)
    client.force_login(editor)
    response = client.get(f"/automations/{automation.public_id}/")
    assert response.status_code == 200
    assert "More than 3 runs" in response.content.decode()
    assert '<td class="num">3+</td>' in response.content.decode()
