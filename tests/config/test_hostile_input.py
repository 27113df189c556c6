"""Every dashboard page, form and htmx endpoint, sent malformed and hostile values, answers with
a valid result or a 4xx that says what is wrong: never a 500. Viewers can change nothing.

The API's routes (/v1/) are fuzzed the same way, authenticated with an API key instead of the
session (a secret key where the editor goes, a restricted read-only key where the viewer goes).

The endpoints are found by walking the URL configuration (so a new view is fuzzed without being
listed here); the field names come from the forms on the pages themselves, the values from a
fixed corpus of nasty inputs plus hypothesis-generated text.
"""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.keys import api_key_create
from automations.models import Run
from billing import services
from billing.models import Price, RetryPolicy
from billing.services.exchange_rates import exchange_rate_set
from billing.services.test_clocks import clock_create
from billing.views.controls import TRANSITIONS
from notifications.email import send_templated_email
from notifications.models import DeliveryStatus, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from tests.automations.test_engine import automation
from tests.factories import make_customer, make_invoice, make_quote, make_subscription

SKIPPED_PREFIXES = ("admin:", "logout")
NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "-Infinity",
    "9" * 40,
    "1.5",
    "-0.0001",
    "0x1F",
    "null",
    "[]",
    '{"a": 1}',
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "ünïcødé ✓ 💸 ﷽",
    "nul\x00byte",
    "a" * 10_000,
    "2026-13-45",
    "2026-02-30T25:61",
    "../../etc/passwd",
    "http://169.254.169.254/latest/meta-data",
    "%s%s%n",
    "{{ 7*7 }} {% debug %}",
    "auto_doesnotexist",
    "in_doesnotexist",
    "steps.0.action",
    "move_step:999999999999:up",
    "remove_step:-1",
    "on",
    "true",
    "cancel",
    "finish",
]
# The API's parameters, in Stripe's bracket notation (its routes answer JSON: no form to read them from).
API_FIELD_NAMES = [
    "email", "name", "description", "metadata", "metadata[plan]", "metadata[]", "items[0][price]",
    "items[0][quantity]", "items[][price]", "expand[]", "limit", "starting_after", "ending_before", "unit_amount",
    "currency", "recurring[interval]", "product", "customer", "price", "quantity", "amount", "invoice", "status",
    "test_clock", "payment_method", "invoice_settings[default_payment_method]", "cancel_at", "cancel_at_period_end",
    "pause_collection[behavior]", "days_until_due", "collection_method", "frozen_time", "line_items[0][price]",
    "expires_at", "created[gte]", "type", "active", "nickname", "document",
]  # fmt: skip
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.integers(-(10**20), 10**20).map(str))


class _FieldNames(HTMLParser):
    """Names of the inputs, selects, textareas and buttons on a page (and the values buttons send)."""

    def __init__(self):
        super().__init__()
        self.names: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            values = self.names.setdefault(attrs["name"], set())
            if attrs.get("value"):
                values.add(attrs["value"])
        if tag == "option" and attrs.get("value") is not None and self.names:
            # Offered options are good seeds: the last named field is the select they belong to.
            list(self.names.values())[-1].add(attrs["value"])


def field_names(html: str) -> dict[str, set[str]]:
    parser = _FieldNames()
    parser.feed(html)
    parser.names.pop("csrfmiddlewaretoken", None)
    return parser.names


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


def dashboard_endpoints() -> list[tuple[str, str]]:
    """(URL name, route) of every named route but the Django admin and logout."""
    return [(name, route) for name, route in _patterns(get_resolver()) if not name.startswith(SKIPPED_PREFIXES)]


def fill(route: str, ids: dict[str, list[str]]) -> list[str]:
    """Concrete paths for a route: each combination of real parameter values, and once with garbage."""
    params = re.findall(r"<(?:\w+:)?(\w+)>", route)
    if not params:
        return ["/" + route]
    paths, hostile = [route], route
    for param in params:
        pattern = rf"<(?:\w+:)?{param}>"
        paths = [re.sub(pattern, value, path) for path in paths for value in ids.get(param, ["x"])]
        hostile = re.sub(pattern, "%2E%2E%2Fnope%00", hostile)
    return ["/" + path for path in paths] + ["/" + hostile]


# Which real object a route's parameters refer to, by a word of the route's name (first match).
KINDS = [
    ("retry_policy", "policy"),
    ("exchange_rate", "rate"),
    ("run_", "automation"),
    ("automation", "automation"),
    ("customer", "customer"),
    ("invoice", "invoice"),
    ("subscription", "subscription"),
    ("quote", "quote"),
    ("webhook", "endpoint"),
    ("delivery", "endpoint"),
    ("email", "email"),
]


# The API's routes are named for their verbs: their path says the object ("v1/prices/<id>").
API_KINDS = [("test_clock", "clock"), ("product", "product"), ("price", "price"), ("event", "event"), *KINDS]


def _is_api(name: str) -> bool:
    return name.startswith("api_v1:")


def _ids_for(name: str, world: dict, route: str = "") -> dict[str, list[str]]:
    """The real values a route's parameters take, chosen by the route's name (the API's: its path)."""
    kind = name.split(":")[-1]
    kinds = KINDS
    if _is_api(name):
        kind, kinds = route, API_KINDS
    key = next((key for word, key in kinds if word in kind), None)
    if key is None:
        return {}
    object_kind = key if key in TRANSITIONS else None
    return {
        "public_id": [world[key]],
        "pk": [world[key]],
        "id": [world[key]],
        "currency": [world["rate"]],
        "run_id": [world["run"]],
        "event_id": [world["event"]],
        "name": sorted(TRANSITIONS[object_kind]) if object_kind else ["x"],
    }


@pytest.fixture
def world(settings, django_capture_on_commit_callbacks) -> dict:
    """One of each object the dashboard shows, with an automation run and a webhook delivery."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]
    customer = make_customer()
    make_subscription(customer=customer)
    quote = make_quote(customer=customer)
    auto = automation(
        "invoice.overdue",
        [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}],
        name="Chase",
    )
    invoice = make_invoice(customer=customer, due_date=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_overdue(invoice=invoice)
    run = Run.objects.get(object_id=invoice.public_id)
    endpoint = endpoint_create(url="https://203.0.113.10/hook", enabled_events=["invoice.voided"]).endpoint
    now = timezone.now()
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="evt_fuzz0001",
        event_type="invoice.voided",
        body='{"id": "evt_fuzz0001"}',
        status=DeliveryStatus.PENDING,
        created=now,
        next_attempt_at=now + timedelta(minutes=5),
        retry_until=now + timedelta(days=3),
    )
    email = send_templated_email(to=["ada@example.com"], template="emails/test_message", context={"name": "Ada"})
    policy = RetryPolicy.objects.create(name="Fuzz policy", max_retries=3, within_days=7)
    price = Price.objects.select_related("product").first()
    clock = clock_create(name="Fuzz clock", frozen_time=now)
    exchange_rate_set(currency="USD", value="1.08")
    return {
        "customer": customer.public_id,
        "invoice": invoice.public_id,
        "subscription": customer.subscriptions.first().public_id,
        "quote": quote.public_id,
        "automation": auto.public_id,
        "run": run.public_id,
        "endpoint": endpoint.public_id,
        "event": "evt_fuzz0001",
        "email": email.public_id,
        "policy": str(policy.pk),
        "rate": "USD",
        "product": price.product.public_id,
        "price": price.public_id,
        "clock": clock.public_id,
    }


def _destructive_last(endpoints):
    # Deleting or cancelling the shared objects first would leave the other endpoints only 404s.
    words = ("delete", "cancel", "void", "uncollectible", "archive", "roll")
    return sorted(endpoints, key=lambda e: any(w in e[0] for w in words))


def _assert_answer(response, what: str) -> None:
    assert response.status_code < 500, f"{what} → {response.status_code}"
    if 400 <= response.status_code < 500:
        body = response.content.decode(errors="replace")
        assert re.search(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", body)), (
            f"{what} → {response.status_code} says nothing"
        )


def _post_hostile(
    client, path: str, names: list[str], seeds: dict[str, list[str]], all_names: list[str], auth: dict | None = None
):
    """A hypothesis test posting drawn values for the page's own field names (and a few others)."""

    @settings(max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def post_hostile(data):
        chosen = data.draw(st.lists(st.sampled_from(names), max_size=12) if names else st.just([]))
        payload: dict[str, list[str]] = {}
        for key in chosen:
            offered = seeds.get(key) or []
            strategy = st.one_of(VALUES, st.sampled_from(offered)) if offered else VALUES
            payload.setdefault(key, []).append(data.draw(strategy))
        extra = data.draw(st.dictionaries(st.sampled_from(all_names or ["x"]), VALUES, max_size=3))
        for key, value in extra.items():
            payload.setdefault(key, []).append(value)
        headers = {"HX-Request": "true"} if data.draw(st.booleans()) else {}
        response = client.post(path, payload, headers={**headers, **(auth or {})})
        _assert_answer(response, f"POST {path} {str(payload)[:300]}")

    return post_hostile


def _key_header(read_only: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_create(name='Fuzz', read_only=read_only).secret}"}


def test_no_page_form_or_htmx_endpoint_answers_500_to_hostile_input(editor_client, world, settings):
    settings.API_RATE_LIMIT = 0  # the fuzz is one fast client: 429s would hide the answers
    secret = _key_header()
    endpoints = _destructive_last(dashboard_endpoints())
    assert len(endpoints) >= 40, endpoints
    pool: dict[str, set[str]] = {}
    pages = {}
    seen_ok = 0
    for name, route in endpoints:
        auth = secret if _is_api(name) else {}
        for path in fill(route, _ids_for(name, world, route)):
            response = editor_client.get(path, headers=auth)
            _assert_answer(response, f"GET {path}")
            seen_ok += response.status_code == 200
            if response.status_code == 200 and "html" in response.get("Content-Type", ""):
                names = field_names(response.content.decode())
                pages[path] = names
                for key, values in names.items():
                    pool.setdefault(key, set()).update(values)
            # Hostile query strings on every page as well.
            hostile = {"page": "-1e9", "status": "<x>", "q": "a" * 5000, "trigger": "\u202e", "limit": "1e309"}
            response = editor_client.get(path, hostile, headers=auth)
            _assert_answer(response, f"GET {path}?hostile")

    # The real ids must reach the pages: most GETs answer 200 (POST-only routes answer 405).
    assert seen_ok >= 35, seen_ok
    all_names = sorted(pool)
    for name, route in endpoints:
        auth = secret if _is_api(name) else {}
        for path in fill(route, _ids_for(name, world, route)):
            own = pages.get(path) or {}
            names = API_FIELD_NAMES if _is_api(name) else (sorted(own) or all_names)
            seeds = {key: sorted(own.get(key) or pool.get(key) or []) for key in names}

            _post_hostile(editor_client, path, names, seeds, all_names, auth)()


def test_a_viewer_is_refused_every_change(viewer_client, world):
    """Every route that accepts a POST refuses a viewer with 403, whatever is posted (the API's
    routes refuse a restricted read-only key alike)."""
    refused = 0
    restricted = _key_header(read_only=True)
    for name, route in dashboard_endpoints():
        if name == "login":
            continue
        path = fill(route, _ids_for(name, world, route))[0]
        auth = restricted if _is_api(name) else {}
        response = viewer_client.post(path, {"name": "x", "enabled": "0", "in_flight": "cancel"}, headers=auth)
        if response.status_code == 405:
            continue  # a read-only page
        assert response.status_code in (403, 404), f"viewer POST {path} → {response.status_code}"
        refused += response.status_code == 403
    assert refused >= 5
