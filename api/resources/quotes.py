"""`/v1/quotes`: create, retrieve, list, and the transitions `finalize`, `accept` (which drafts
the invoice) and `cancel`, through billing's quote services."""

from ninja import Router

from api.encoding import known, metadata, params
from api.errors import invalid
from api.lists import PAGE_PARAMS, stripe_list
from api.resources.values import choice, found, indexed, integer, only, required, text, timestamp
from billing import services
from billing.models import Customer, Price, Quote, QuoteStatus
from billing.serializers import lines_prefetch, snapshot

router = Router(tags=["quotes"])

URL = "/v1/quotes"
MAX_LINES = 50


def quotes():
    return Quote.objects.select_related("customer", "invoice")


def serialize(quote: Quote) -> dict:
    return snapshot(quote) | {"livemode": False}


def _fresh(quote: Quote) -> dict:
    return serialize(quotes().get(pk=quote.pk))


def line_items(values: dict) -> list[services.LineItem]:
    lines = indexed(required(values, "line_items"), "line_items")
    if not lines:
        invalid("Missing required param: line_items.", param="line_items")
    if len(lines) > MAX_LINES:
        invalid(f"A quote has at most {MAX_LINES} lines.", param="line_items")
    result = []
    for n, line in enumerate(lines):
        known(line, "price", "quantity", within=f"line_items[{n}]")
        param = f"line_items[{n}][price]"
        price = found(Price.objects.select_related("product"), required(line, "price", param), "price", param=param)
        quantity = integer(line.get("quantity", 1), f"line_items[{n}][quantity]", minimum=1, maximum=1_000_000)
        result.append(services.LineItem(price=price, quantity=quantity))
    return result


@router.post("", summary="Create a quote")
def create(request):
    """Parameters: customer, line_items[n][price] and line_items[n][quantity], expires_at,
    description, metadata[key]."""
    values = only(params(request), {"customer", "line_items", "expires_at", "description", "metadata"})
    customer = found(Customer.objects.all(), required(values, "customer"), "customer", param="customer")
    lines = line_items(values)
    expires_at = timestamp(values["expires_at"], "expires_at") if values.get("expires_at") not in (None, "") else None
    quote = services.quote_create(
        customer=customer,
        lines=lines,
        expires_at=expires_at,
        description=text(values.get("description", ""), "description"),
        metadata=metadata(values) or {},
        currency=str(lines[0].price.unit_amount.currency),
    )
    return _fresh(quote)


@router.get("/{id}", summary="Retrieve a quote")
def retrieve(request, id: str):
    only(params(request), set())
    return serialize(found(quotes(), id, "quote"))


@router.get("", summary="List quotes")
def list_(request):
    """Filters: customer, status."""
    values = only(params(request), {"customer", "status", *PAGE_PARAMS})
    queryset = quotes().prefetch_related(lines_prefetch(Quote))
    if values.get("customer"):
        customer = found(Customer.objects.all(), values["customer"], "customer", param="customer")
        queryset = queryset.filter(customer=customer)
    if values.get("status"):
        queryset = queryset.filter(status=choice(values["status"], "status", QuoteStatus.values))
    return stripe_list(request, queryset, serialize, url=URL)


@router.post("/{id}/finalize", summary="Finalize a draft quote")
def finalize(request, id: str):
    only(params(request), set())
    return _fresh(services.quote_finalize(quote=found(quotes(), id, "quote")))


@router.post("/{id}/accept", summary="Accept an open quote (drafts its invoice)")
def accept(request, id: str):
    """open → accepted, drafting an invoice with the quote's lines (`invoice`)."""
    only(params(request), set())
    return _fresh(services.quote_accept(quote=found(quotes(), id, "quote")))


@router.post("/{id}/cancel", summary="Cancel a quote")
def cancel(request, id: str):
    only(params(request), set())
    return _fresh(services.quote_cancel(quote=found(quotes(), id, "quote")))
