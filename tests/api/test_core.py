"""The API's conventions, through the official stripe SDK only: keys, error classes, lists,
idempotency, the rate limit, the schema and the docs page."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import stripe
from django.test import override_settings

from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey, IdempotentRequest
from billing.models import Customer
from tests.api.conftest import API

pytestmark = API


def test_it_refuses_an_unknown_key_with_an_authentication_error(client_for):
    with pytest.raises(stripe.AuthenticationError) as refused:
        client_for("sk_test_nope").v1.customers.list()
    assert refused.value.http_status == 401
    assert refused.value.error.type == "invalid_request_error"


def test_it_refuses_a_revoked_key(client_for):
    new = api_key_create(name="Old")
    client = client_for(new.secret)
    assert client.v1.customers.list().data == []
    api_key_revoke(api_key=new.api_key)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_it_accepts_the_key_as_the_basic_username_as_stripe_does(live_server, secret_key):
    answer = requests.get(f"{live_server.url}/v1/customers", auth=(secret_key, ""), timeout=10)
    assert answer.status_code == 200 and answer.json()["object"] == "list"


def test_a_restricted_key_reads_but_cannot_write(stripe_client, restricted_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    assert restricted_client.v1.customers.retrieve(customer.id).email == "ada@example.com"
    assert [c.id for c in restricted_client.v1.customers.list().data] == [customer.id]
    with pytest.raises(stripe.PermissionError) as refused:
        restricted_client.v1.customers.create({"email": "bob@example.com"})
    assert refused.value.http_status == 403 and "read only" in refused.value.user_message
    with pytest.raises(stripe.PermissionError):
        restricted_client.v1.customers.update(customer.id, {"name": "Nope"})
    with pytest.raises(stripe.PermissionError):
        restricted_client.v1.customers.delete(customer.id)
    assert [c.email for c in stripe_client.v1.customers.list().data] == ["ada@example.com"]


def test_a_key_records_its_last_use(stripe_client):
    stripe_client.v1.customers.list()
    assert ApiKey.objects.get(name="Tests").last_used_at is not None


def test_errors_become_the_sdk_own_classes_with_their_param(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.retrieve("cus_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert missing.value.user_message == "No such customer: 'cus_doesnotexist'"

    with pytest.raises(stripe.InvalidRequestError) as invalid:
        stripe_client.v1.customers.create({"email": "not an email"})
    assert invalid.value.http_status == 400 and "not a valid email" in invalid.value.user_message

    with pytest.raises(stripe.InvalidRequestError) as required:
        stripe_client.v1.customers.create({"name": "No email"})
    assert required.value.param == "email"

    with pytest.raises(stripe.InvalidRequestError) as unknown_card:
        stripe_client.v1.customers.create({"email": "a@example.com", "payment_method": "pm_card_nope"})
    assert unknown_card.value.param == "payment_method"


def test_an_unknown_url_or_method_answers_a_stripe_error(stripe_client, live_server, secret_key):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.raw_request("get", "/v1/charges")
    assert unknown.value.http_status == 404 and "Unrecognized request URL" in unknown.value.user_message
    answer = requests.put(f"{live_server.url}/v1/customers", auth=(secret_key, ""), timeout=10)
    assert answer.status_code == 405 and answer.json()["error"]["type"] == "invalid_request_error"


def test_it_pages_through_more_than_a_hundred_objects_newest_first(stripe_client):
    created = [stripe_client.v1.products.create({"name": f"Plan {n:03}"}).id for n in range(105)]
    first = stripe_client.v1.products.list({"limit": 100})
    assert len(first.data) == 100 and first.has_more and first.url == "/v1/products"
    assert first.data[0].id == created[-1]
    seen = [p.id for p in stripe_client.v1.products.list({"limit": 100}).auto_paging_iter()]
    assert seen == created[::-1]

    second = stripe_client.v1.products.list({"limit": 3, "starting_after": created[-2]})
    assert [p.id for p in second.data] == created[-3:-6:-1] and second.has_more
    before = stripe_client.v1.products.list({"limit": 2, "ending_before": created[-4]})
    assert [p.id for p in before.data] == [created[-2], created[-3]] and before.has_more
    last = stripe_client.v1.products.list({"limit": 5, "starting_after": created[2]})
    assert [p.id for p in last.data] == [created[1], created[0]] and not last.has_more


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_it_refuses_a_limit_out_of_bounds(stripe_client, limit):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.list({"limit": limit})
    assert refused.value.param == "limit"


def test_it_refuses_a_cursor_it_does_not_know(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.list({"starting_after": "cus_unknown"})
    assert refused.value.param == "starting_after"


def test_a_repeated_request_with_the_same_idempotency_key_returns_the_first_response(stripe_client):
    key = str(uuid.uuid4())
    params = {"email": "ada@example.com", "metadata": {"plan": "gold"}}
    first = stripe_client.v1.customers.create(params, {"idempotency_key": key})
    again = stripe_client.v1.customers.create(params, {"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(stripe_client.v1.customers.list().data) == 1


def test_the_same_idempotency_key_with_other_parameters_is_refused(stripe_client):
    key = str(uuid.uuid4())
    stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as refused:
        stripe_client.v1.customers.create({"email": "bob@example.com"}, {"idempotency_key": key})
    assert refused.value.http_status == 400 and refused.value.error.type == "idempotency_error"
    assert len(stripe_client.v1.customers.list().data) == 1


def test_an_idempotency_key_expires_after_a_day(stripe_client):
    key = str(uuid.uuid4())
    first = stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    remembered = IdempotentRequest.objects.get(key=key)
    IdempotentRequest.objects.filter(pk=remembered.pk).update(created=remembered.created - timedelta(hours=24))
    again = stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    assert again.id != first.id


def test_a_key_sending_too_many_requests_a_second_gets_a_rate_limit_error(stripe_client):
    with override_settings(API_RATE_LIMIT=3), pytest.raises(stripe.RateLimitError) as limited:
        for _ in range(20):
            stripe_client.v1.customers.list()
    assert limited.value.http_status == 429 and limited.value.error.code == "rate_limit"
    assert limited.value.headers["Retry-After"] == "1"


def test_the_openapi_schema_and_the_docs_page_are_published(live_server):
    schema = requests.get(f"{live_server.url}/v1/openapi.json", timeout=10).json()
    assert "/v1/customers" in schema["paths"] and "/v1/events/{id}" in schema["paths"]
    page = requests.get(f"{live_server.url}/v1/docs", timeout=10)
    assert page.status_code == 200 and "/v1/customers" in page.text and "<script>" not in page.text
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def test_the_readme_example_runs_as_a_newcomer_pastes_it(live_server, secret_key, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    example = example.replace('"http://127.0.0.1:8000"', repr(live_server.url)).replace('"sk_test_…"', repr(secret_key))
    monkeypatch.setattr(stripe, "api_base", stripe.api_base)
    monkeypatch.setattr(stripe, "api_key", stripe.api_key)
    monkeypatch.setattr(stripe, "default_http_client", None)
    try:
        exec(compile(example, "README.md", "exec"), {})
    finally:
        if stripe.default_http_client is not None:
            stripe.default_http_client.close()  # its kept-alive connection holds a live-server thread
    assert Customer.objects.get().email == "ada@example.com"
    assert capsys.readouterr().out == ""  # a new customer has no invoices yet


def test_a_repeat_while_the_first_request_still_runs_is_a_conflict(stripe_client):
    key = str(uuid.uuid4())
    stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    IdempotentRequest.objects.filter(key=key).update(status=None)  # as if the first were still running
    with pytest.raises(stripe.APIError) as conflict:
        stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    assert conflict.value.http_status == 409 and "in-progress" in conflict.value.user_message


def test_a_refused_request_releases_its_idempotency_key_for_a_corrected_one(stripe_client):
    key = str(uuid.uuid4())
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.create({"email": "not an email"}, {"idempotency_key": key})
    corrected = stripe_client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": key})
    assert corrected.email == "ada@example.com"
