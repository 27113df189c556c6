"""The API is tested only through the official stripe SDK, against pytest-django's live server.

`stripe_client` is a `stripe.StripeClient` on a secret key whose base address is the live server:
`stripe_client.v1.customers.create({"email": …})`. It never retries (`max_network_retries=0`),
so a 409 or a 429 is seen at once instead of retried. The live server runs in a thread: tests
using these fixtures are marked `django_db(transaction=True)` (`pytestmark = API` below does it).
`restricted_client` is the same on a read-only `rk_` key; `client_for(secret)` builds one on any key.
"""

import pytest
import stripe

from api.keys import api_key_create

API = [pytest.mark.django_db(transaction=True)]


_clients: list[stripe.StripeClient] = []


def make_client(base_url: str, secret: str) -> stripe.StripeClient:
    client = stripe.StripeClient(secret, base_addresses={"api": base_url}, max_network_retries=0)
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients():
    # A kept-alive HTTP connection keeps its live-server thread, and that thread its database
    # connection (PostgreSQL then refuses to drop the test database): close them after each test.
    yield
    while _clients:
        _clients.pop()._requestor._client.close()


@pytest.fixture
def secret_key(transactional_db) -> str:
    return api_key_create(name="Tests").secret


@pytest.fixture
def restricted_key(transactional_db) -> str:
    return api_key_create(name="Tests (read only)", read_only=True).secret


@pytest.fixture
def stripe_client(live_server, secret_key) -> stripe.StripeClient:
    return make_client(live_server.url, secret_key)


@pytest.fixture
def restricted_client(live_server, restricted_key) -> stripe.StripeClient:
    return make_client(live_server.url, restricted_key)


@pytest.fixture
def client_for(live_server):
    return lambda secret: make_client(live_server.url, secret)
