"""The API's resources: each module holds one ninja `Router`; `api/v1.py` mounts every router listed
here at its prefix (a new resource adds one line). Paths are Stripe's, without a trailing slash:
a router at "/customers" declares `@router.post("")`, `@router.get("/{id}")`…"""

from ninja import Router

from api.resources import catalog, customers, events, invoices, quotes, subscriptions, test_clocks
from api.resources.automations import router as automations_router

ROUTERS: list[tuple[str, Router]] = [
    ("/customers", customers.router),
    ("/automations", automations_router),
    ("/products", catalog.products),
    ("/prices", catalog.prices),
    ("/events", events.router),
    ("/subscriptions", subscriptions.router),
    ("/invoiceitems", invoices.invoice_items_router),
    ("/invoices", invoices.invoices_router),
    ("/quotes", quotes.router),
    ("/test_helpers/test_clocks", test_clocks.router),
]
