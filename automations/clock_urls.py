"""Test clocks: the list, a clock's page and its live status, advancing, customers, deletion."""

from django.urls import path

from automations.views import test_clocks as views

urlpatterns = [
    path("", views.test_clock_list, name="test_clocks"),
    path("new/", views.test_clock_new, name="test_clock_new"),
    path("<str:public_id>/", views.test_clock_detail, name="test_clock_detail"),
    path("<str:public_id>/status/", views.test_clock_progress, name="test_clock_progress"),
    path("<str:public_id>/advance/", views.test_clock_advance, name="test_clock_advance"),
    path("<str:public_id>/customers/", views.test_clock_customer_add, name="test_clock_customer_add"),
    path("<str:public_id>/delete/", views.test_clock_delete, name="test_clock_delete"),
]
