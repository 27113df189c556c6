"""`/v1/invoices` and `/v1/invoiceitems`, through billing's invoice services.

Invoices: create (from the customer's pending invoice items, as Stripe's
`pending_invoice_items_behavior=include`), retrieve, update, list, and the transitions `finalize`,
`pay`, `void`, `mark_uncollectible`. A declined payment answers 402 `card_error` (code
`card_declined`, its `decline_code`), after the failed attempt is recorded and its retry planned.

Invoice items: an amount (`amount` + `currency`) or a price (`price` + `quantity`) for a customer:
on a draft invoice (`invoice`) it becomes one of its lines at once; without one it waits for the
customer's next invoice (a manual one, or their subscription's next).
"""

from django.db import transaction
from ninja import Router

from api.encoding import metadata, params
from api.errors import card_declined, invalid
from api.lists import PAGE_PARAMS, stripe_list
from api.resources.values import (
    boolean,
    choice,
    collection,
    currency,
    found,
    integer,
    only,
    required,
    text,
    timestamp,
)
from billing import services
from billing.models import (
    Customer,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    PaymentOutcome,
    Price,
    Subscription,
)
from billing.serializers import lines_prefetch, snapshot, to_minor_units
from billing.services.catalog import MAX_UNIT_AMOUNT, money_from_minor_units
from billing.services.invoices import pending_items

invoices_router = Router(tags=["invoices"])
invoice_items_router = Router(tags=["invoice items"])

INVOICES_URL = "/v1/invoices"
INVOICE_ITEMS_URL = "/v1/invoiceitems"
# Stripe's decline codes for the test gateway's failure codes (a plain decline is "generic_decline").
DECLINE_CODES = {"card_declined": "generic_decline"}


# --- Invoices ---------------------------------------------------------------------------------


def invoices():
    return Invoice.objects.select_related("customer", "subscription", "retry_policy")


def serialize_invoice(invoice: Invoice) -> dict:
    return snapshot(invoice) | {"livemode": False}


def _invoice(id: str) -> Invoice:
    return found(invoices(), id, "invoice")


def _fresh(invoice: Invoice) -> dict:
    return serialize_invoice(invoices().get(pk=invoice.pk))


@invoices_router.post("", summary="Create an invoice")
def invoice_create(request):
    """Parameters: customer, subscription, currency, collection_method, days_until_due or due_date
    (send_invoice), description, metadata[key], auto_advance (false by default, as in Stripe). The draft
    takes the customer's pending invoice items in its currency; without any it is refused."""
    values = only(
        params(request),
        {
            "customer", "subscription", "collection_method", "days_until_due", "due_date", "description",
            "metadata", "auto_advance", "currency", "pending_invoice_items_behavior",
        },
    )  # fmt: skip
    customer = found(Customer.objects.all(), required(values, "customer"), "customer", param="customer")
    kwargs = collection(values, due_date=True)
    subscription = None
    if values.get("subscription"):
        subscription = found(Subscription.objects.all(), values["subscription"], "subscription", param="subscription")
        if subscription.customer_id != customer.pk:
            invalid(
                f"Subscription {subscription.public_id} is not a subscription of {customer.public_id}.", "subscription"
            )
    code = currency(values["currency"]) if values.get("currency") else customer.currency
    behavior = choice(
        values.get("pending_invoice_items_behavior", "include"), "pending_invoice_items_behavior", ["include"]
    )
    if behavior == "include" and not pending_items(customer, code).exists():
        invalid(
            f"Customer {customer.public_id} has no pending invoice items in {code.lower()}: an invoice is made of "
            "them. Add some first (POST /v1/invoiceitems with customer), or add lines to a subscription's invoice.",
            param="customer",
        )
    invoice = services.invoice_create(
        customer=customer,
        subscription=subscription,
        lines=[],
        currency=code,
        description=text(values.get("description", ""), "description"),
        metadata=metadata(values) or {},
        # Stripe's default for an invoice made through the API: no automatic collection.
        auto_advance=boolean(values["auto_advance"], "auto_advance") if "auto_advance" in values else False,
        include_pending_items=True,
        **kwargs,
    )
    return _fresh(invoice)


@invoices_router.get("/{id}", summary="Retrieve an invoice")
def invoice_retrieve(request, id: str):
    only(params(request), set())
    return serialize_invoice(_invoice(id))


@invoices_router.post("/{id}", summary="Update an invoice")
def invoice_update(request, id: str):
    """Parameters: description, metadata[key] (an empty value removes the key), due_date (empty to
    remove), auto_advance."""
    values = only(params(request), {"description", "metadata", "due_date", "auto_advance"})
    invoice = _invoice(id)
    kwargs = {}
    if "description" in values:
        kwargs["description"] = text(values["description"], "description")
    if "metadata" in values:
        kwargs["metadata"] = metadata(values, invoice.metadata)
    if "due_date" in values:
        kwargs["due_date"] = timestamp(values["due_date"], "due_date") if values["due_date"] != "" else None
    if "auto_advance" in values:
        kwargs["auto_advance"] = boolean(values["auto_advance"], "auto_advance")
    return _fresh(services.invoice_update(invoice=invoice, **kwargs))


@invoices_router.get("", summary="List invoices")
def invoice_list(request):
    """Filters: customer, status, subscription."""
    values = only(params(request), {"customer", "status", "subscription", *PAGE_PARAMS})
    queryset = invoices().prefetch_related(lines_prefetch(Invoice))
    if values.get("customer"):
        customer = found(Customer.objects.all(), values["customer"], "customer", param="customer")
        queryset = queryset.filter(customer=customer)
    if values.get("subscription"):
        subscription = found(Subscription.objects.all(), values["subscription"], "subscription", param="subscription")
        queryset = queryset.filter(subscription=subscription)
    if values.get("status"):
        queryset = queryset.filter(status=choice(values["status"], "status", InvoiceStatus.values))
    return stripe_list(request, queryset, serialize_invoice, url=INVOICES_URL)


@invoices_router.post("/{id}/finalize", summary="Finalize a draft invoice")
def invoice_finalize(request, id: str):
    values = only(params(request), {"auto_advance"})
    invoice = _invoice(id)
    with transaction.atomic():
        if "auto_advance" in values:
            invoice = services.invoice_update(
                invoice=invoice, auto_advance=boolean(values["auto_advance"], "auto_advance")
            )
        invoice = services.invoice_finalize(invoice=invoice)
    return _fresh(invoice)


@invoices_router.post("/{id}/pay", summary="Pay an invoice")
def invoice_pay(request, id: str):
    """Charge the customer's payment method (a draft is finalized first, as Stripe does), or
    record a payment made elsewhere with `paid_out_of_band=true`."""
    values = only(params(request), {"paid_out_of_band"})
    invoice = _invoice(id)
    out_of_band = boolean(values["paid_out_of_band"], "paid_out_of_band") if "paid_out_of_band" in values else False
    if invoice.status == InvoiceStatus.DRAFT:
        invoice = services.invoice_finalize(invoice=invoice)
    if out_of_band:
        return _fresh(services.invoice_mark_paid(invoice=invoice, paid_out_of_band=True))
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        invalid(f"Invoice {invoice.public_id} is {invoice.status}; only open invoices can be paid.")
    attempt = services.invoice_attempt_payment(invoice=invoice)  # commits the attempt, failed or not
    if attempt.outcome == PaymentOutcome.FAILED:
        card_declined(
            attempt.message or "Your card was declined.",
            decline_code=DECLINE_CODES.get(attempt.failure_code, attempt.failure_code or "generic_decline"),
        )
    return _fresh(invoice)


@invoices_router.post("/{id}/void", summary="Void an invoice")
def invoice_void(request, id: str):
    only(params(request), set())
    return _fresh(services.invoice_void(invoice=_invoice(id)))


@invoices_router.post("/{id}/mark_uncollectible", summary="Mark an invoice uncollectible")
def invoice_mark_uncollectible(request, id: str):
    only(params(request), set())
    return _fresh(services.invoice_mark_uncollectible(invoice=_invoice(id)))


# --- Invoice items ----------------------------------------------------------------------------


def invoice_items():
    return InvoiceItem.objects.select_related("customer", "invoice", "price", "product")


def serialize_invoice_item(item: InvoiceItem) -> dict:
    """Stripe's invoice item object (`pricing` as in Stripe's newer API versions, `price` as before)."""
    price = item.price.public_id if item.price_id else None
    return {
        "id": item.public_id,
        "object": "invoiceitem",
        "customer": item.customer.public_id,
        "invoice": item.invoice.public_id if item.invoice_id else None,
        "amount": to_minor_units(item.amount),
        "currency": item.currency.lower(),
        "unit_amount": to_minor_units(item.unit_amount),
        "quantity": item.quantity,
        "description": item.description,
        "price": price,
        "pricing": {"price_details": {"price": price, "product": item.product.public_id if item.product_id else None}},
        "metadata": dict(item.metadata),
        "date": int(item.created.timestamp()),
        "livemode": False,
        "test_clock": item.customer.test_clock_id,
    }


def _line(values: dict) -> services.LineItem:
    """`amount` + `currency`, or `price` (or `pricing[price]`) + `quantity`, with `description`."""
    description = text(values.get("description", ""), "description", max_length=300)
    pricing = values.get("pricing") or {}
    if not isinstance(pricing, dict):
        invalid("Invalid pricing: give pricing[price].", param="pricing")
    price_id = values.get("price") or pricing.get("price")
    if price_id and "amount" in values:
        invalid("Give amount and currency, or a price, not both.", param="amount")
    if price_id:
        price = found(Price.objects.select_related("product"), price_id, "price", param="price")
        quantity = integer(values.get("quantity", 1), "quantity", minimum=1, maximum=1_000_000)
        return services.LineItem(price=price, quantity=quantity, description=description)
    amount = integer(required(values, "amount"), "amount", minimum=0, maximum=MAX_UNIT_AMOUNT)
    if "quantity" in values and integer(values["quantity"], "quantity") != 1:
        invalid("quantity goes with a price; amount is the item's whole amount.", param="quantity")
    if not description:
        invalid("Missing required param: description (an amount without a price needs one).", param="description")
    return services.LineItem(unit_amount=money_from_minor_units(amount, values["currency"]), description=description)


@invoice_items_router.post("", summary="Create an invoice item")
def invoice_item_create(request):
    """Parameters: customer, invoice (a draft of theirs; without it the item waits for their next
    invoice), amount (minor units) and currency with description, or price (or pricing[price]) and
    quantity; metadata[key]."""
    values = only(
        params(request),
        {"customer", "invoice", "amount", "currency", "price", "pricing", "quantity", "description", "metadata"},
    )
    customer = found(Customer.objects.all(), required(values, "customer"), "customer", param="customer")
    invoice = None
    if values.get("invoice"):
        invoice = found(Invoice.objects.select_related("customer"), values["invoice"], "invoice", param="invoice")
        if invoice.customer_id != customer.pk:
            invalid(f"Invoice {invoice.public_id} is not an invoice of {customer.public_id}.", param="invoice")
    default_currency = invoice.currency if invoice is not None else customer.currency
    values = values | {"currency": currency(values["currency"]) if values.get("currency") else default_currency}
    item = services.invoice_item_create(
        item=_line(values), customer=customer, invoice=invoice, metadata=metadata(values) or {}
    )
    return serialize_invoice_item(invoice_items().get(pk=item.pk))


@invoice_items_router.get("/{id}", summary="Retrieve an invoice item")
def invoice_item_retrieve(request, id: str):
    only(params(request), set())
    return serialize_invoice_item(found(invoice_items(), id, "invoiceitem"))


@invoice_items_router.get("", summary="List invoice items")
def invoice_item_list(request):
    """Filters: customer, invoice, pending (true: not yet on an invoice)."""
    values = only(params(request), {"customer", "invoice", "pending", *PAGE_PARAMS})
    queryset = invoice_items()
    if values.get("customer"):
        customer = found(Customer.objects.all(), values["customer"], "customer", param="customer")
        queryset = queryset.filter(customer=customer)
    if values.get("invoice"):
        invoice = found(Invoice.objects.all(), values["invoice"], "invoice", param="invoice")
        queryset = queryset.filter(invoice=invoice)
    if "pending" in values:
        queryset = queryset.filter(invoice__isnull=boolean(values["pending"], "pending"))
    return stripe_list(request, queryset, serialize_invoice_item, url=INVOICE_ITEMS_URL)
