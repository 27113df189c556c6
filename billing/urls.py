from django.urls import path

from billing import views
from billing.views import transitions

urlpatterns = [
    path("", views.home, name="home"),
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
]
