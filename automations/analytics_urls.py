"""The recovery analytics page, its CSV and its definitions (mounted at /analytics/)."""

from django.urls import path

from automations.views.analytics import analytics_csv, analytics_definitions, analytics_page

urlpatterns = [
    path("", analytics_page, name="analytics"),
    path("recovery.csv", analytics_csv, name="analytics_csv"),
    path("definitions/", analytics_definitions, name="analytics_definitions"),
]
