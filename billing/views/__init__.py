"""Dashboard views: thin, reading through billing.selectors."""

from billing.views.account import account_settings
from billing.views.details import customer_detail, invoice_detail, quote_detail, subscription_detail
from billing.views.lists import customer_list, invoice_list, quote_list, subscription_list
from billing.views.pages import home
from billing.views.settings_policies import retry_policy_add, retry_policy_delete, retry_policy_edit, retry_policy_list
from billing.views.settings_rates import exchange_rate_delete, exchange_rates
from billing.views.settings_team import team

__all__ = [
    "account_settings",
    "customer_detail",
    "customer_list",
    "exchange_rate_delete",
    "exchange_rates",
    "home",
    "invoice_detail",
    "invoice_list",
    "quote_detail",
    "quote_list",
    "retry_policy_add",
    "retry_policy_delete",
    "retry_policy_edit",
    "retry_policy_list",
    "subscription_detail",
    "subscription_list",
    "team",
]
