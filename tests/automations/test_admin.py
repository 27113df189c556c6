import pytest
from django.urls import reverse

from tests.automations.test_engine import VOID, _overdue_invoice, automation

pytestmark = pytest.mark.django_db


def test_automations_runs_and_matching_records_are_shown_read_only_in_the_admin(
    admin_client, django_capture_on_commit_callbacks
):
    auto = automation("invoice.overdue", [VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    run = auto.runs.get()
    for name in ("automation", "run", "matchingrecord"):
        assert admin_client.get(reverse(f"admin:automations_{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:automations_{name}_add")).status_code == 403
    page = admin_client.get(reverse("admin:automations_run_change", args=[run.pk]))
    assert page.status_code == 200 and "void_invoice" in page.content.decode()
