from django.urls import path

from billing import views

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
    path("settings/", views.account_settings, name="settings"),
]
