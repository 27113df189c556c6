"""Payment gateways: the interface, and the one configured in settings.PAYMENT_GATEWAY."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from billing.payments.base import FAILURE_CODES, ChargeResult, PaymentGateway


@cache
def get_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()


__all__ = ["FAILURE_CODES", "ChargeResult", "PaymentGateway", "get_gateway"]
