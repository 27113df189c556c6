"""The run change list of the admin at scale: no count of the whole table, searches through
indexed columns (and the automation's name), a fixed number of queries."""

import pytest
from django.urls import reverse

from tests.automations.test_engine import VOID, automation
from tests.automations.test_services_runs import make_run
from tests.billing.test_admin_scale import _get, unbounded_counts

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:automations_run_changelist")


@pytest.fixture
def autos():
    return automation("invoice.overdue", [VOID], name="Chase enterprise"), automation(
        "invoice.overdue", [VOID], name="Small accounts"
    )


def test_the_run_list_never_counts_every_run_nor_lists_distinct_values(admin_client, autos):
    for n in range(3):
        make_run(autos[n % 2], object_id=f"in_{n}")

    for params in ({}, {"q": "chase"}, {"status__exact": "active"}, {"trigger__exact": "invoice.overdue"}):
        response, sqls = _get(admin_client, RUNS, **params)
        assert unbounded_counts(sqls) == [], params
        assert [sql for sql in sqls if "DISTINCT" in sql.upper()] == [], params
        assert response.context["cl"].result_count >= 1, params


def test_the_run_list_takes_as_many_queries_for_30_runs_as_for_3(admin_client, autos):
    for n in range(3):
        make_run(autos[n % 2], object_id=f"in_{n}")
    few = len(_get(admin_client, RUNS)[1])
    for n in range(3, 30):
        make_run(autos[n % 2], object_id=f"in_{n}")

    assert len(_get(admin_client, RUNS)[1]) == few
    assert len(_get(admin_client, RUNS, p=2)[1]) == few


def test_runs_are_found_by_automation_name_object_id_or_id_prefix(admin_client, autos):
    chase, small = autos
    mine = make_run(chase, object_id="in_wanted")
    other = make_run(small, object_id="in_other")

    def found(query):
        return list(admin_client.get(RUNS, {"q": query}).context["cl"].result_list)

    assert found("ENTERPRISE") == [mine]
    assert found("in_want") == [mine]
    assert found(mine.public_id[:12]) == [mine]
    assert found("wanted") == []  # ids are matched by their beginning
    assert found("small") == [other]


def _indexes(table: str) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


def test_the_run_list_indexes_come_with_their_migration_and_go_with_it(migrator):
    migrator.apply_initial_migration(("automations", "0009_analytics_indexes"))
    assert {"run_started", "run_status_started"}.isdisjoint(_indexes("automations_run"))

    migrator.apply_tested_migration(("automations", "0010_run_list_indexes"))
    assert {"run_started", "run_status_started"} <= _indexes("automations_run")

    migrator.apply_tested_migration(("automations", "0009_analytics_indexes"))
    assert {"run_started", "run_status_started"}.isdisjoint(_indexes("automations_run"))
