"""Indexes for the dashboard lists at scale (PostgreSQL only; nothing on SQLite).

- Trigram GIN indexes (pg_trgm) on UPPER(customer name), UPPER(customer email) and
  UPPER(invoice number): `icontains` compiles to `UPPER(col::text) LIKE UPPER('%…%')`, which a
  btree cannot serve; these expressions match it, so a search reads a few index pages instead of
  the whole table. (An invoice id is searched by prefix, through the existing `_like` index.)
- `invoice_open_due`: open invoices by due date, for the "overdue" filter and its count (the
  partial `invoice_overdue_due` leaves out invoices already flagged overdue).

They live in the database only (RunSQL), not in the models' Meta: the model state is unchanged.
"""

from django.db import migrations

INDEXES = [
    ("customer_name_trgm", "billing_customer", "gin (UPPER(name) gin_trgm_ops)"),
    ("customer_email_trgm", "billing_customer", "gin (UPPER(email) gin_trgm_ops)"),
    ("invoice_number_trgm", "billing_invoice", "gin (UPPER(number) gin_trgm_ops)"),
    ("invoice_open_due", "billing_invoice", "btree (due_date) WHERE status = 'open' AND due_date IS NOT NULL"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, definition in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_roles")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
