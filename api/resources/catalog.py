"""Products and prices: create, retrieve, update, list (prices by `product`)."""

from ninja import Router

from api.encoding import boolean, integer, known, metadata, params, text
from api.errors import invalid, missing
from api.lists import PAGE_PARAMS, stripe_list
from billing.models import Interval, Price, Product
from billing.serializers import to_minor_units
from billing.services.catalog import price_create, price_update, product_create, product_update
from billing.services.common import UNSET

products = Router(tags=["products"])
prices = Router(tags=["prices"])


def _ts(value):
    return int(value.timestamp()) if value else None


def serialize_product(product: Product) -> dict:
    return {
        "id": product.public_id,
        "object": "product",
        "name": product.name,
        "description": product.description or None,
        "active": product.active,
        "metadata": dict(product.metadata),
        "created": _ts(product.created),
        "livemode": False,
    }


def serialize_price(price: Price) -> dict:
    return {
        "id": price.public_id,
        "object": "price",
        "product": price.product.public_id,
        "active": price.active,
        "nickname": price.nickname or None,
        "unit_amount": to_minor_units(price.unit_amount),
        "currency": str(price.unit_amount.currency).lower(),
        "type": "recurring" if price.interval else "one_time",
        "recurring": {"interval": price.interval, "interval_count": 1} if price.interval else None,
        "metadata": {},
        "created": _ts(price.created),
        "livemode": False,
    }


def _product(id: str, param: str = "id") -> Product:
    product = Product.objects.filter(public_id=id).first() if isinstance(id, str) else None
    if product is None:
        missing("product", id if isinstance(id, str) else "", param=param)
    return product


def _price(id: str) -> Price:
    price = Price.objects.select_related("product").filter(public_id=id).first()
    if price is None:
        missing("price", id)
    return price


def _active(values: dict):
    active = boolean(values, "active")
    return UNSET if active is None else active


PRODUCT_FIELDS = ("name", "description", "active", "metadata")


@products.post("", summary="Create a product", response={200: dict})
def create_product(request):
    """Parameters: name (required), description, active, metadata[key]."""
    values = params(request)
    known(values, *PRODUCT_FIELDS)
    product = product_create(
        name=text(values, "name", required=True, max_length=200),
        description=text(values, "description") or "",
        active=boolean(values, "active") is not False,
        metadata=metadata(values) or {},
    )
    return serialize_product(product)


@products.get("", summary="List products", response={200: dict})
def list_products(request):
    """Newest first. Filters: active."""
    values = params(request)
    known(values, "active", *PAGE_PARAMS)
    queryset = Product.objects.all()
    active = boolean(values, "active")
    if active is not None:
        queryset = queryset.filter(active=active)
    return stripe_list(request, queryset, serialize_product, url="/v1/products")


@products.get("/{id}", summary="Retrieve a product", response={200: dict})
def retrieve_product(request, id: str):
    return serialize_product(_product(id))


@products.post("/{id}", summary="Update a product", response={200: dict})
def update_product(request, id: str):
    """Parameters: name, description, active, metadata[key] (an empty value removes the key)."""
    product = _product(id)
    values = params(request)
    known(values, *PRODUCT_FIELDS)
    name = text(values, "name", max_length=200)
    description = text(values, "description")
    merged = metadata(values, product.metadata)
    product = product_update(
        product=product,
        name=UNSET if name is None else name,
        description=UNSET if description is None else description,
        active=_active(values),
        metadata=UNSET if merged is None else merged,
    )
    return serialize_product(product)


def _interval(values: dict) -> str:
    recurring = values.get("recurring")
    if recurring in (None, ""):
        return ""
    if not isinstance(recurring, dict):
        invalid("Invalid recurring: expected a hash (recurring[interval]=month).", param="recurring")
    for name in recurring:
        if name not in ("interval", "interval_count"):
            invalid(f"Received unknown parameter: recurring[{name}]", param=f"recurring[{name}]")
    if recurring.get("interval_count") not in (None, "", "1"):
        invalid("Only an interval_count of 1 is supported.", param="recurring[interval_count]")
    interval = recurring.get("interval")
    if interval not in Interval.values:
        invalid(
            f"Invalid recurring[interval]: must be one of {', '.join(Interval.values)}.", param="recurring[interval]"
        )
    return interval


@prices.post("", summary="Create a price", response={200: dict})
def create_price(request):
    """Parameters: product (required), unit_amount (minor units, required), currency (required),
    recurring[interval] (month or year; a one-off price without it), nickname, active."""
    values = params(request)
    known(values, "product", "unit_amount", "currency", "recurring", "nickname", "active")
    product = _product(text(values, "product", required=True, max_length=100), param="product")
    unit_amount = integer(values, "unit_amount", required=True, minimum=0)
    currency = text(values, "currency", required=True, max_length=3)
    price = price_create(
        product=product,
        unit_amount=unit_amount,
        currency=currency,
        interval=_interval(values),
        nickname=text(values, "nickname", max_length=100) or "",
        active=boolean(values, "active") is not False,
    )
    return serialize_price(price)


@prices.get("", summary="List prices", response={200: dict})
def list_prices(request):
    """Newest first. Filters: product, active, currency, type (recurring or one_time)."""
    values = params(request)
    known(values, "product", "active", "currency", "type", *PAGE_PARAMS)
    queryset = Price.objects.select_related("product")
    product = text(values, "product", max_length=100)
    if product:
        queryset = queryset.filter(product__public_id=product)
    active = boolean(values, "active")
    if active is not None:
        queryset = queryset.filter(active=active)
    currency = text(values, "currency", max_length=3)
    if currency:
        queryset = queryset.filter(unit_amount_currency=currency.upper())
    kind = text(values, "type", max_length=20)
    if kind:
        if kind not in ("recurring", "one_time"):
            invalid("Invalid type: must be recurring or one_time.", param="type")
        queryset = queryset.exclude(interval="") if kind == "recurring" else queryset.filter(interval="")
    return stripe_list(request, queryset, serialize_price, url="/v1/prices")


@prices.get("/{id}", summary="Retrieve a price", response={200: dict})
def retrieve_price(request, id: str):
    return serialize_price(_price(id))


@prices.post("/{id}", summary="Update a price", response={200: dict})
def update_price(request, id: str):
    """Parameters: nickname, active (a price's amount, currency and interval never change)."""
    price = _price(id)
    values = params(request)
    for fixed in ("unit_amount", "currency", "recurring", "product"):
        if fixed in values:
            invalid(f"A price's {fixed} cannot be changed: create a new price instead.", param=fixed)
    known(values, "nickname", "active")
    nickname = text(values, "nickname", max_length=100)
    price = price_update(price=price, nickname=UNSET if nickname is None else nickname, active=_active(values))
    return serialize_price(price)
