"""Indexes for the run change list of the Django admin at scale (issue 17).

The admin lists runs newest first (`-started_at, -id`), all of them or those of one status; the
only index with `started_at` led with the automation. Without these, a page of 25 runs sorted
all 100,000 (EXPLAIN ANALYZE: 167 ms); with them it reads 25 index entries.
Plain SQL, the same on SQLite and PostgreSQL, as 0009's.
"""

from django.db import migrations

INDEXES = {
    "run_started": "automations_run (started_at DESC, id DESC)",
    "run_status_started": "automations_run (status, started_at DESC, id DESC)",
}


class Migration(migrations.Migration):
    dependencies = [("automations", "0009_analytics_indexes")]

    operations = [
        migrations.RunSQL(sql=f"CREATE INDEX {name} ON {definition}", reverse_sql=f"DROP INDEX {name}")
        for name, definition in INDEXES.items()
    ]
