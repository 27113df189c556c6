"""Dashboard views: thin, reading through billing.selectors."""

from billing.views.account import account_settings
from billing.views.details import customer_detail, invoice_detail, quote_detail, subscription_detail
from billing.views.lists import customer_list, invoice_list, quote_list, subscription_list
from billing.views.pages import home

__all__ = [
    "account_settings",
    "customer_detail",
    "customer_list",
    "home",
    "invoice_detail",
    "invoice_list",
    "quote_detail",
    "quote_list",
    "subscription_detail",
    "subscription_list",
]
