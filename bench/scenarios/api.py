"""Scenario 9, api (issue 15): through the Stripe-shaped API,
(a) creating a customer with a subscription (two requests: POST /v1/customers with a test card,
    then POST /v1/subscriptions, which bills and charges the first period) in p95 ≤ 50 ms, and
(b) listing a customer's invoices (GET /v1/invoices?customer=…, Stripe's default page of 10)
    with 1,000,000 invoices in the database in p95 ≤ 50 ms.

Server time: Django's test client in-process, as the pages scenario does: the full request
through the middleware, the key check, the rate limit, parameter decoding, the services and the
JSON answer, without the network or the SDK's own time (an SDK client adds ~1 ms of encoding and
a loopback round trip on top). DEBUG is off while measuring, and the per-key rate limit is lifted
(the bench sends more requests a second than a key may). The listing uses the shared 1M-invoice
dataset (bench/data.py); what (a) creates is deleted afterwards, so that the dataset's counts
stay as the other scenarios expect.
"""

from urllib.parse import urlencode

from django.db import connection
from django.test import Client, override_settings

from bench import data
from bench.harness import Context, Result, percentile, timed

TARGET_MS = 50.0
SIGNUPS = 200
LISTS = 200
WARMUP = 5
EMAIL_DOMAIN = "bench-api.example"


def _client(secret: str) -> Client:
    return Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {secret}")


def _post(client: Client, path: str, form: dict) -> dict:
    # Form-encoded with bracket keys, as the SDK sends them.
    response = client.post(path, urlencode(form), content_type="application/x-www-form-urlencoded")
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return response.json()


def _price() -> str:
    from billing.models import Price, Product
    from billing.services.catalog import price_create

    price = Price.objects.filter(product__name="API bench plan", interval="month").first()
    if price is None:
        product = Product.objects.create(name="API bench plan")
        price = price_create(product=product, unit_amount=2900, currency="EUR", interval="month")
    return price.public_id


def _signup(client: Client, n: int, price: str) -> None:
    customer = _post(
        client,
        "/v1/customers",
        {"email": f"signup{n}@{EMAIL_DOMAIN}", "name": f"Signup {n}", "payment_method": "pm_card_visa"},
    )
    _post(client, "/v1/subscriptions", {"customer": customer["id"], "items[0][price]": price, "items[0][quantity]": 1})


def _clean_up(first_task: int) -> None:
    """Delete what the sign-ups made (customers, subscriptions, invoices, events) and the tasks
    their events queued (no cluster runs here; a later scenario's cluster must not find them)."""
    from django_q.models import OrmQ

    from billing.models import Customer, Event, Invoice, Subscription

    customers = Customer.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}")
    ids = list(customers.values_list("public_id", flat=True))
    Invoice.objects.filter(customer__in=customers).delete()
    Subscription.objects.filter(customer__in=customers).delete()
    Event.objects.filter(customer_id__in=ids).delete()
    customers.delete()
    OrmQ.objects.filter(pk__gt=first_task).delete()


def _last_task() -> int:
    from django_q.models import OrmQ

    return OrmQ.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _busiest_customer() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.public_id FROM billing_customer c JOIN billing_invoice i ON i.customer_id = c.id "
            "GROUP BY c.id, c.public_id ORDER BY count(*) DESC LIMIT 1"
        )
        return cursor.fetchone()[0]


def _measure(name: str, count: int, call) -> tuple[float, float, float]:
    for n in range(WARMUP):
        call(-1 - n)
    times = []
    for n in range(count):
        with timed() as elapsed:
            call(n)
        times.append(elapsed() * 1000)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms  ({count} timed)", flush=True)
    return p50, p95, max(times)


def run(ctx: Context) -> list[Result]:
    from api.keys import api_key_create

    size = data.ensure_dataset(ctx.quick)
    secret = api_key_create(name="bench").secret
    client = _client(secret)
    results = []
    first_task = _last_task()
    try:
        with override_settings(DEBUG=False, API_RATE_LIMIT=0):
            price = _price()
            p50, p95, _ = _measure("signup (customer + subscription)", SIGNUPS, lambda n: _signup(client, n, price))
            results.append(
                Result(
                    "api.signup",
                    p95,
                    "ms",
                    target=TARGET_MS,
                    higher_is_better=False,
                    note=f"p50 {p50:.0f} ms; POST /v1/customers + POST /v1/subscriptions (first period charged)",
                )  # fmt: skip
            )
            customer = _busiest_customer()
            url = f"/v1/invoices?customer={customer}"

            def list_invoices(n: int) -> None:
                response = client.get(url)
                if response.status_code != 200 or len(response.json()["data"]) == 0:
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:300]!r}")

            p50, p95, _ = _measure(f"list a customer's invoices ({url})", LISTS, list_invoices)
            results.append(
                Result(
                    "api.list_invoices",
                    p95,
                    "ms",
                    target=TARGET_MS,
                    higher_is_better=False,
                    note=f"p50 {p50:.0f} ms; a page of 10 of one customer's invoices among {size.invoices:,}",
                )  # fmt: skip
            )
    finally:
        _clean_up(first_task)
        from api.models import ApiKey

        ApiKey.objects.filter(name="bench").delete()
    return results
