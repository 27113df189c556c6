"""Customers: create, retrieve, update (metadata merged), delete, list (`email` filter)."""

from ninja import Router

from api.encoding import known, metadata, params, text
from api.errors import invalid, missing
from api.lists import PAGE_PARAMS, stripe_list
from api.payment_methods import card_for, payment_method_id
from billing.models import Customer, Locale, TestClock
from billing.serializers import snapshot
from billing.services import customer_create, customer_update
from billing.services.common import UNSET
from billing.services.customers import customer_delete

router = Router(tags=["customers"])

UPDATABLE = ("name", "email", "metadata", "payment_method", "invoice_settings", "preferred_locales")


def serialize(customer: Customer) -> dict:
    body = snapshot(customer)
    pm = payment_method_id(customer.default_payment_method)
    body["default_payment_method"] = pm
    body["invoice_settings"] = {"default_payment_method": pm}
    body["preferred_locales"] = [customer.preferred_locale] if customer.preferred_locale else []
    body["livemode"] = False
    return body


def _customer(id: str) -> Customer:
    customer = Customer.objects.filter(public_id=id).first()
    if customer is None:
        missing("customer", id)
    return customer


def _payment_method(values: dict):
    """The card of `invoice_settings[default_payment_method]` or `payment_method` (UNSET if neither)."""
    settings = values.get("invoice_settings")
    if settings not in (None, ""):
        if not isinstance(settings, dict):
            invalid("Invalid invoice_settings: expected a hash.", param="invoice_settings")
        known(settings, "default_payment_method", within="invoice_settings")
        if "default_payment_method" in settings:
            return card_for(settings["default_payment_method"], "invoice_settings[default_payment_method]")
    if "payment_method" in values:
        return card_for(values["payment_method"], "payment_method")
    return UNSET


def _preferred_locale(values: dict):
    """Stripe's `preferred_locales` list, ordered by preference: the first language the customer's
    emails can speak (`fr-CA` reads as `fr`); `preferred_locales=""` clears it (UNSET if absent)."""
    given = values.get("preferred_locales")
    if given is None:
        return UNSET
    if given == "":
        return ""
    if not isinstance(given, list) or not all(isinstance(locale, str) for locale in given):
        invalid("Invalid preferred_locales: expected a list of locales (preferred_locales[0]=fr).", "preferred_locales")
    supported = [code for code in Locale.values if code]
    for locale in given:
        if (language := locale.strip().lower().split("-")[0]) in supported:
            return language
    if not given:
        return ""
    invalid(
        f"Invalid preferred_locales: customer emails speak {' and '.join(supported)} (e.g. preferred_locales[0]=fr).",
        param="preferred_locales",
    )


@router.post("", summary="Create a customer", response={200: dict})
def create(request):
    """Parameters: name, email (required), currency, metadata[key], payment_method or
    invoice_settings[default_payment_method] (pm_card_visa, pm_card_chargeDeclined, …), test_clock,
    preferred_locales[n] (en, fr)."""
    values = params(request)
    known(values, *UPDATABLE, "currency", "test_clock")
    email = text(values, "email", required=True, max_length=254)
    name = text(values, "name", max_length=200) or email
    clock = None
    clock_id = text(values, "test_clock", max_length=100)
    if clock_id:
        clock = TestClock.objects.filter(public_id=clock_id).first()
        if clock is None:
            missing("test_clock", clock_id, param="test_clock")
    card = _payment_method(values)
    locale = _preferred_locale(values)
    customer = customer_create(
        name=name,
        email=email,
        currency=text(values, "currency", max_length=3),
        metadata=metadata(values) or {},
        default_payment_method="" if card is UNSET else card,
        test_clock=clock,
        preferred_locale="" if locale is UNSET else locale,
    )
    return serialize(customer)


@router.get("", summary="List customers", response={200: dict})
def list_customers(request):
    """Newest first. Filters: email, test_clock. Pagination: limit, starting_after, ending_before."""
    values = params(request)
    known(values, "email", "test_clock", *PAGE_PARAMS)
    customers = Customer.objects.all()
    email = text(values, "email", max_length=512)
    if email:
        customers = customers.filter(email=email)
    clock = text(values, "test_clock", max_length=100)
    if clock:
        customers = customers.filter(test_clock_id=clock)
    return stripe_list(request, customers, serialize, url="/v1/customers")


@router.get("/{id}", summary="Retrieve a customer", response={200: dict})
def retrieve(request, id: str):
    return serialize(_customer(id))


@router.post("/{id}", summary="Update a customer", response={200: dict})
def update(request, id: str):
    """Parameters: name, email, metadata[key] (an empty value removes the key), payment_method,
    invoice_settings[default_payment_method], preferred_locales[n] (en, fr)."""
    customer = _customer(id)
    values = params(request)
    if "currency" in values:
        invalid("A customer's currency cannot be changed.", param="currency")
    known(values, *UPDATABLE)
    name = text(values, "name", max_length=200)
    email = text(values, "email", max_length=254)
    merged = metadata(values, customer.metadata)
    customer = customer_update(
        customer=customer,
        name=UNSET if name is None else name,
        email=UNSET if email is None else email,
        metadata=UNSET if merged is None else merged,
        default_payment_method=_payment_method(values),
        preferred_locale=_preferred_locale(values),
    )
    return serialize(customer)


@router.delete("/{id}", summary="Delete a customer", response={200: dict})
def delete(request, id: str):
    """Refused (400) when the customer has invoices, subscriptions or quotes: void or cancel them."""
    customer = _customer(id)
    public_id = customer.public_id
    customer_delete(customer=customer)
    return {"id": public_id, "object": "customer", "deleted": True}
