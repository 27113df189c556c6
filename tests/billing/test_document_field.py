"""Large JSON documents (event snapshots, matching records) bulk insert as rows of values, with
the same content as one by one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Event

pytestmark = pytest.mark.django_db


def _event(i: int) -> Event:
    text = 'a "quoted" \\ back\\slash, {braces}, ünïcode ' * 40
    return Event(
        type="invoice.overdue", object_type="invoice", object_id=f"in_{i}", created=timezone.now(),
        data_object={"id": f"in_{i}", "object": "invoice", "text": text, "lines": [{"n": n} for n in range(20)]},
        previous_attributes=None if i % 2 else {"status": "draft", "text": text},
    )  # fmt: skip


def test_a_bulk_insert_of_documents_keeps_every_document_as_it_was():
    events = [_event(i) for i in range(30)]
    with CaptureQueriesContext(connection) as queries:
        Event.objects.bulk_create(events)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "UNNEST" not in inserts[0]  # rows of values, not one array per column
    stored = {e.object_id: (e.data_object, e.previous_attributes) for e in Event.objects.all()}
    assert stored == {e.object_id: (e.data_object, e.previous_attributes) for e in events}
