from django.urls import path

from billing import views
from billing.views import hosted, transitions

urlpatterns = [
    path("", views.home, name="home"),
    path("pay/<str:token>/", hosted.hosted_invoice, name="hosted_invoice"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/<str:public_id>/", views.customer_detail, name="customer_detail"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<str:public_id>/", views.invoice_detail, name="invoice_detail"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/<str:public_id>/", views.subscription_detail, name="subscription_detail"),
    path("quotes/", views.quote_list, name="quotes"),
    path("quotes/<str:public_id>/", views.quote_detail, name="quote_detail"),
    path(
        "invoices/<str:public_id>/transitions/<str:name>/",
        transitions.transition,
        {"kind": "invoice"},
        name="invoice_transition",
    ),
    path(
        "invoices/<str:public_id>/transitions/<str:name>/confirm/",
        transitions.transition_confirm,
        {"kind": "invoice"},
        name="invoice_transition_confirm",
    ),
    path(
        "subscriptions/<str:public_id>/transitions/<str:name>/",
        transitions.transition,
        {"kind": "subscription"},
        name="subscription_transition",
    ),
    path(
        "subscriptions/<str:public_id>/transitions/<str:name>/confirm/",
        transitions.transition_confirm,
        {"kind": "subscription"},
        name="subscription_transition_confirm",
    ),
    path(
        "quotes/<str:public_id>/transitions/<str:name>/",
        transitions.transition,
        {"kind": "quote"},
        name="quote_transition",
    ),
    path(
        "quotes/<str:public_id>/transitions/<str:name>/confirm/",
        transitions.transition_confirm,
        {"kind": "quote"},
        name="quote_transition_confirm",
    ),
    path("settings/", views.account_settings, name="settings"),
    path("settings/retry-policies/", views.retry_policy_list, name="settings_retry_policies"),
    path("settings/retry-policies/new/", views.retry_policy_add, name="settings_retry_policy_add"),
    path("settings/retry-policies/<int:pk>/edit/", views.retry_policy_edit, name="settings_retry_policy_edit"),
    path("settings/retry-policies/<int:pk>/delete/", views.retry_policy_delete, name="settings_retry_policy_delete"),
    path("settings/exchange-rates/", views.exchange_rates, name="settings_exchange_rates"),
    path(
        "settings/exchange-rates/<str:currency>/delete/",
        views.exchange_rate_delete,
        name="settings_exchange_rate_delete",
    ),
    path("settings/team/", views.team, name="settings_team"),
]
