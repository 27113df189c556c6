"""The shared large dataset of the billing sweep and pages benchmarks, built in bulk SQL.

    1,000,000 invoices over 50,000 customers (EUR, USD, GBP), of which 10,000 open and just past
    their due date, not yet flagged overdue (`metadata.bench = "sweep"`), for the overdue sweep;
    100,000 runs with 3 steps each on five `invoice.overdue` automations, each run with its
    `invoice.overdue` event and matching record, and an `invoice.finalized` event before it;
    one subscription per customer (one item each, none ever due for renewal), for the admin's list.

`ensure_dataset()` builds it once (about 1–2 minutes on a 2-core machine) and reuses it while the
marker customer is there and the counts are right; a partial dataset is emptied and rebuilt.
Rows are written with `INSERT … SELECT generate_series(…)`: no Python per row. Public ids have
the shape PublicIdField gives them (`<prefix>_` + 20 letters and digits), from a hash of the
row number and a salt drawn once per build, so they are unique and do not look sequential.
"""

import secrets
import time
from dataclasses import dataclass

from django.db import connection, transaction

INVOICES = 1_000_000
CUSTOMERS = 50_000
RUNS = 100_000
SWEEP = 10_000  # invoices 100, 200, … of the series: open, just past due, not yet flagged
QUICK = {"invoices": 100_000, "customers": 5_000, "runs": 10_000}
MARKER = "cus_BenchDataset00000001"  # a customer with this id marks a finished build
SUBSCRIPTION_MARK = '{"bench": "dataset"}'  # the metadata of the dataset's subscriptions
AUTOMATIONS = [("Overdue: chase", 60), ("Overdue: enterprise", 20), ("Overdue: EU", 10), ("Big", 6), ("Small", 4)]

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Ken",
    "Dennis",
    "Margaret",
    "Linus",
    "Guido",
    "Bjarne",
    "Niklaus",
    "John",
    "Frances",
    "Radia",
    "Sophie",
    "Tim",
    "Vint",
    "Whitfield",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Thompson",
    "Ritchie",
    "Hamilton",
    "Torvalds",
    "Rossum",
    "Stroustrup",
    "Wirth",
    "Backus",
    "Allen",
    "Perlman",
    "Wilson",
    "Lee",
    "Cerf",
    "Diffie",
    "Kay",
    "Lamport",
    "Codd",
    "Cook",
    "Milner",
]

# The database tables this dataset fills, emptied (with what refers to them) before a build.
TABLES = [
    "automations_automationversion",
    "automations_automation",
    "automations_runstep",
    "automations_matchingrecord",
    "automations_handledevent",
    "automations_run",
    "billing_event",
    "billing_invoiceline",
    "billing_paymentattempt",
    "billing_quoteline",
    "billing_quote",
    "billing_invoice",
    "billing_subscriptionitem",
    "billing_subscription",
    "billing_customer",
]


@dataclass(frozen=True)
class Sizes:
    invoices: int
    customers: int
    runs: int

    @property
    def sweep(self) -> int:
        return self.invoices // 100


def sizes(quick: bool = False) -> Sizes:
    return Sizes(**QUICK) if quick else Sizes(INVOICES, CUSTOMERS, RUNS)


def _pid(prefix: str, expr: str) -> str:
    """SQL for a well-formed public id from a unique expression: 20 base64 characters of a hash,
    with + and / replaced by letters (~119 bits: no collision in practice)."""
    return (
        f"'{prefix}_' || translate(substr(encode(sha256(convert_to(%(salt)s || '{prefix}' || ({expr})::text, "
        f"'UTF8')), 'base64'), 1, 20), '+/', 'Qz')"
    )


def _array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]"


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (a constant table name)
        return cursor.fetchone()[0]


def present(size: Sizes) -> bool:
    from billing.models import Customer

    return (
        Customer.objects.filter(public_id=MARKER).exists()
        and _count("billing_invoice") == size.invoices
        and _count("automations_run") == size.runs
    )


def ensure_dataset(quick: bool = False) -> Sizes:
    """Build the dataset unless it is already there; returns its sizes."""
    size = sizes(quick)
    if present(size):
        print(f"  dataset present: {size.invoices:,} invoices, {size.runs:,} runs (reused)", flush=True)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM billing_subscription WHERE metadata @> %s LIMIT 1", [SUBSCRIPTION_MARK])
            missing = cursor.fetchone() is None  # a dataset built before they were part of it
            if missing:
                _subscriptions(cursor)
        if missing:
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE billing_subscription")
                cursor.execute("VACUUM ANALYZE billing_subscriptionitem")
        return size
    start = time.perf_counter()
    build(size)
    print(f"  dataset built in {time.perf_counter() - start:.0f} s", flush=True)
    return size


def _step(cursor, label: str, sql: str, params: dict) -> None:
    start = time.perf_counter()
    cursor.execute(sql, params)
    print(f"  {label}: {cursor.rowcount:,} rows in {time.perf_counter() - start:.1f} s", flush=True)


def _subscriptions(cursor) -> None:
    """One subscription per customer (80% active, 8% past due, 2% unpaid, 10% canceled), each with
    one item of a monthly bench price. Every period ends years ahead: a dataset is reused for
    weeks, and no renewal job may ever find them due."""
    from djmoney.money import Money

    from billing.models import Price, Product

    product, _ = Product.objects.get_or_create(name="Bench plan")
    price = Price.objects.filter(product=product).first() or Price.objects.create(
        product=product, unit_amount=Money(30, "EUR"), interval="month"
    )
    _step(
        cursor,
        "subscriptions",
        f"""
        INSERT INTO billing_subscription (public_id, customer_id, status, currency, current_period_start,
            current_period_end, collection_method, days_until_due, cancel_at_period_end, canceled_at, ended_at,
            cancellation_reason, pause_behavior, metadata, created, updated)
        SELECT {_pid("sub", "c.id")}, c.id, st, c.currency, start, start + interval '10 years',
               'charge_automatically', NULL, false,
               CASE WHEN st = 'canceled' THEN c.created + interval '90 days' END,
               CASE WHEN st = 'canceled' THEN c.created + interval '90 days' END,
               CASE WHEN st = 'canceled' THEN 'cancellation_requested' ELSE '' END,
               '', '{SUBSCRIPTION_MARK}'::jsonb, c.created, now()
        FROM billing_customer c,
             LATERAL (SELECT date_trunc('day', now()) - (c.id %% 30) * interval '1 day' AS start,
                             CASE WHEN c.id %% 100 < 80 THEN 'active' WHEN c.id %% 100 < 88 THEN 'past_due'
                                  WHEN c.id %% 100 < 90 THEN 'unpaid' ELSE 'canceled' END AS st) s
        WHERE c.public_id <> %(marker)s
        ORDER BY c.id
        """,
        {"salt": secrets.token_hex(8), "marker": MARKER},
    )
    _step(
        cursor,
        "subscription items",
        f"""
        INSERT INTO billing_subscriptionitem (public_id, subscription_id, price_id, quantity)
        SELECT {_pid("si", "id")}, id, %(price)s, 1 + id %% 3 FROM billing_subscription ORDER BY id
        """,
        {"salt": secrets.token_hex(8), "price": price.pk},
    )


def build(size: Sizes) -> None:
    """Empty the tables and write the dataset (one transaction), then VACUUM ANALYZE them."""
    from automations.services.definitions import automation_create
    from billing.models import AccountSettings

    params = {"salt": secrets.token_hex(8), "n": size.invoices, "c": size.customers, "r": size.runs}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        account = AccountSettings.load()
        if "team.example" not in account.team_email_domains:
            account.team_email_domains = [*account.team_email_domains, "team.example"]
            account.save(update_fields=["team_email_domains", "updated"])
        autos = []
        for name, share in AUTOMATIONS:
            steps = [
                {"action": "send_team_email", "delay": {"amount": 0, "unit": "days"},
                 "params": {"recipient": "billing@team.example", "message": "{number} is overdue"}},
                {"action": "mark_invoice_uncollectible", "delay": {"amount": 14, "unit": "days"}, "params": {}},
                {"action": "void_invoice", "delay": {"amount": 30, "unit": "days"}, "params": {}},
            ]  # fmt: skip
            auto = automation_create(name=f"{name} (bench)", trigger="invoice.overdue", filters=[], steps=steps)
            autos.append((auto.pk, auto.current_version_id, share))

        _step(
            cursor,
            "customers",
            f"""
            INSERT INTO billing_customer (public_id, name, email, currency, metadata, default_payment_method,
                                          preferred_locale, created, updated)
            SELECT {_pid("cus", "g")},
                   f || ' ' || l, lower(f) || '.' || lower(l) || g || '@example.com',
                   (ARRAY['EUR','EUR','EUR','EUR','EUR','EUR','USD','USD','USD','GBP'])[1 + g %% 10],
                   jsonb_build_object('segment', (ARRAY['smb','smb','mid','enterprise'])[1 + g %% 4]),
                   '4242424242424242', '', now() - interval '2 years' + g * interval '20 minutes', now()
            FROM generate_series(1, %(c)s) g,
                 LATERAL (SELECT ({_array(FIRST)})[1 + g %% {len(FIRST)}] AS f,
                                 ({_array(LAST)})[1 + (g / {len(FIRST)}) %% {len(LAST)}] AS l) names
            ORDER BY g
            """,
            params,
        )
        cursor.execute(
            "INSERT INTO billing_customer (public_id, name, email, currency, metadata, default_payment_method, "
            "preferred_locale, created, updated) "
            "VALUES (%s, 'Bench marker', 'marker@example.com', 'EUR', '{}', '', '', now(), now())",
            [MARKER],
        )
        _subscriptions(cursor)
        # Invoice g belongs to customer 1 + (g * 7919) % c (ids 1…c after RESTART IDENTITY); its
        # status comes from g % 100: 0 sweep (open, just past due, not flagged), 1–9 draft,
        # 10–19 open and not yet due, 20–27 open and already flagged overdue, 28–32 void,
        # 33–35 uncollectible, the rest paid.
        _step(
            cursor,
            "invoices",
            f"""
            INSERT INTO billing_invoice (public_id, number, customer_id, status, billing_reason, description,
                total_currency, total, amount_paid_currency, amount_paid, collection_method, days_until_due,
                due_date, auto_advance, attempt_count, paid_out_of_band, metadata, created, finalized_at,
                paid_at, voided_at, marked_uncollectible_at, overdue_at, updated)
            SELECT {_pid("in", "g")},
                   CASE WHEN k BETWEEN 1 AND 9 THEN '' ELSE 'INV-' || lpad(g::text, 7, '0') END,
                   cust, st, 'manual', 'Services', cur, amount, cur,
                   CASE WHEN st = 'paid' THEN amount ELSE 0 END,
                   'send_invoice', 30,
                   due, true, 0, false,
                   CASE WHEN k = 0 THEN '{{"bench": "sweep"}}'::jsonb ELSE '{{}}'::jsonb END,
                   created,
                   CASE WHEN st = 'draft' THEN NULL ELSE created END,
                   CASE WHEN st = 'paid' THEN created + interval '10 days' END,
                   CASE WHEN st = 'void' THEN created + interval '40 days' END,
                   CASE WHEN st = 'uncollectible' THEN created + interval '60 days' END,
                   CASE WHEN k BETWEEN 20 AND 35 THEN due + interval '1 hour' END,
                   now()
            FROM generate_series(1, %(n)s) g,
                 LATERAL (SELECT g %% 100 AS k, 1 + (g::bigint * 7919) %% %(c)s AS cust,
                                 now() - (%(n)s - g) * interval '30 seconds' - interval '1 day' AS created,
                                 round((10 + (g * 37) %% 4990)::numeric, 2) AS amount) a,
                 LATERAL (SELECT
                    CASE WHEN k = 0 OR k BETWEEN 10 AND 27 THEN 'open' WHEN k BETWEEN 1 AND 9 THEN 'draft'
                         WHEN k BETWEEN 28 AND 32 THEN 'void' WHEN k BETWEEN 33 AND 35 THEN 'uncollectible'
                         ELSE 'paid' END AS st,
                    (ARRAY['EUR','EUR','EUR','EUR','EUR','EUR','USD','USD','USD','GBP'])[1 + cust %% 10] AS cur,
                    CASE WHEN k = 0 THEN now() - interval '1 minute'
                         WHEN k BETWEEN 1 AND 9 THEN NULL
                         WHEN k BETWEEN 10 AND 19 THEN now() + (1 + g %% 30) * interval '1 day'
                         ELSE now() - (2 + g %% 60) * interval '1 day' END AS due) b
            ORDER BY g
            """,
            params,
        )
        # One line per invoice (the detail page and the overdue event's snapshot read them).
        _step(
            cursor,
            "invoice lines",
            f"""
            INSERT INTO billing_invoiceline (public_id, description, quantity, unit_amount_currency, unit_amount,
                                             amount_currency, amount, invoice_id)
            SELECT {_pid("il", "id")}, 'Services', 1, total_currency, total, total_currency, total, id
            FROM billing_invoice ORDER BY id
            """,
            params,
        )
        # Run j (1…r) is on invoice 100 * ((j - 1) / 16) + 20 + (j - 1) %% 16: one already flagged
        # overdue, voided or uncollectible. Its invoice has two events: finalized, then overdue.
        cursor.execute(
            "CREATE TEMP TABLE bench_run_invoice ON COMMIT DROP AS "
            "SELECT j, 100 * ((j - 1) / 16) + 20 + (j - 1) %% 16 AS invoice_id "
            "FROM generate_series(1, %(r)s) j",
            params,
        )
        events = f"""
            INSERT INTO billing_event (public_id, type, created, object_type, object_id, customer_id, data_object)
            SELECT {_pid("evt", "%(kind)s || j")}, %(type)s, {{created}}, 'invoice', i.public_id, c.public_id,
                   jsonb_build_object('id', i.public_id, 'object', 'invoice', 'number', i.number,
                                      'customer', c.public_id, 'status', {{status}},
                                      'currency', lower(i.total_currency), 'total', (i.total * 100)::bigint,
                                      'due_date', extract(epoch FROM i.due_date)::bigint, 'metadata', i.metadata)
            FROM bench_run_invoice r JOIN billing_invoice i ON i.id = r.invoice_id
            JOIN billing_customer c ON c.id = i.customer_id
            ORDER BY j
        """
        _step(
            cursor,
            "finalized events",
            events.format(created="i.finalized_at", status="'open'"),
            params | {"kind": "f", "type": "invoice.finalized"},
        )
        _step(
            cursor,
            "overdue events",
            events.format(created="i.overdue_at", status="i.status"),
            params | {"kind": "o", "type": "invoice.overdue"},
        )
        # Runs go to the five automations in proportion to their share; statuses: 70% completed,
        # 15% active, 8% ended, 5% canceled, 2% failed.
        shares = " ".join(f"WHEN m < {sum(s for _, _, s in autos[: i + 1])} THEN {i}" for i in range(len(autos)))
        _step(
            cursor,
            "runs",
            f"""
            INSERT INTO automations_run (public_id, automation_id, version_id, trigger, event_id, object_type,
                                         object_id, anchor_at, status, reason, started_at, finished_at)
            SELECT {_pid("run", "e.id")}, (%(autos)s)[1 + x], (%(versions)s)[1 + x], 'invoice.overdue', e.id,
                   'invoice', e.object_id, NULL, st, '', e.created,
                   CASE WHEN st = 'active' THEN NULL ELSE e.created + interval '30 days' END
            FROM billing_event e,
                 LATERAL (SELECT e.id %% 100 AS m) mm,
                 LATERAL (SELECT CASE {shares} ELSE 0 END AS x,
                                 CASE WHEN (e.id * 7) %% 100 < 70 THEN 'completed'
                                      WHEN (e.id * 7) %% 100 < 85 THEN 'active'
                                      WHEN (e.id * 7) %% 100 < 93 THEN 'ended'
                                      WHEN (e.id * 7) %% 100 < 98 THEN 'canceled' ELSE 'failed' END AS st) s
            WHERE e.type = 'invoice.overdue'
            ORDER BY e.id
            """,
            params | {"autos": [a for a, _, _ in autos], "versions": [v for _, v, _ in autos]},
        )
        _step(
            cursor,
            "run steps",
            """
            INSERT INTO automations_runstep (run_id, position, action, params, delay, scheduled_at, status,
                                             attempts, result, error, executed_at)
            SELECT r.id, p, (ARRAY['send_team_email','mark_invoice_uncollectible','void_invoice'])[p],
                   CASE WHEN p = 1 THEN '{"recipient": "billing@team.example", "message": "{number} is overdue"}'
                        ELSE '{}' END::jsonb,
                   jsonb_build_object('amount', (ARRAY[0, 14, 30])[p], 'unit', 'days'),
                   r.started_at + (ARRAY[0, 14, 30])[p] * interval '1 day', st,
                   CASE WHEN st = 'succeeded' THEN 1 ELSE 0 END,
                   CASE WHEN st = 'succeeded' THEN '{"ok": true}'::jsonb END, '',
                   CASE WHEN st = 'succeeded' THEN r.started_at + (ARRAY[0, 14, 30])[p] * interval '1 day' END
            FROM automations_run r, generate_series(1, 3) p,
                 LATERAL (SELECT CASE WHEN r.status = 'completed' OR (r.status = 'active' AND p = 1) THEN 'succeeded'
                                      WHEN r.status = 'active' THEN 'pending'
                                      WHEN r.status = 'failed' AND p = 2 THEN 'failed'
                                      ELSE 'canceled' END AS st) s
            ORDER BY r.id, p
            """,
            params,
        )
        _step(
            cursor,
            "matching records",
            """
            INSERT INTO automations_matchingrecord (event_id, trigger, handled_at, checks, outcome, run_id)
            SELECT r.event_id, r.trigger, r.started_at,
                   jsonb_build_array(jsonb_build_object('name', a.name, 'automation', a.public_id, 'matched', true)),
                   'Started a run of ' || a.name, r.id
            FROM automations_run r JOIN automations_automation a ON a.id = r.automation_id
            ORDER BY r.id
            """,
            params,
        )
        _step(
            cursor,
            "handled events",
            "INSERT INTO automations_handledevent (event_id, handled_at) SELECT id, created FROM billing_event",
            params,
        )
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  vacuum analyze: {time.perf_counter() - start:.1f} s", flush=True)


def sweep_reset(size: Sizes) -> int:
    """Put the sweep's invoices back to "open, just past due, not yet flagged", and delete what the
    previous sweep made (their overdue events, their webhook and task rows). Returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_event WHERE type = 'invoice.overdue' AND object_id IN "
            '(SELECT public_id FROM billing_invoice WHERE metadata @> \'{"bench": "sweep"}\')'
        )
        cursor.execute("DELETE FROM django_q_ormq")
        cursor.execute(
            "UPDATE billing_invoice SET status = 'open', overdue_at = NULL, due_date = now() - interval '1 minute' "
            'WHERE metadata @> \'{"bench": "sweep"}\''
        )
        count = cursor.rowcount
    with connection.cursor() as cursor:
        # What the previous round left dead (events deleted, invoices rewritten) is cleared as
        # autovacuum would: each round starts from the same tables (no round pays for the last).
        for table in ("billing_invoice", "billing_event", "django_q_ormq"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return count
