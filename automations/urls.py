"""The automations dashboard: list and priority, builder, detail with runs and their timelines."""

from django.urls import path

from automations import views
from automations.views import backtest
from automations.views.backfill import automation_backfill
from automations.views.documents import automation_export_view, automation_import_view
from automations.views.dry_run import dry_run_search, object_dry_run
from automations.views.email_preview import email_customer_preview

urlpatterns = [
    path("", views.automation_list, name="automations"),
    path("new/", views.automation_new, name="automation_new"),
    path("reorder/", views.automation_reorder, name="automation_reorder"),
    path("import/", automation_import_view, name="automation_import"),
    path("backtests/draft/", backtest.backtest_draft, name="backtest_draft"),
    path("backtests/<str:backtest_id>/", backtest.backtest_detail, name="backtest_detail"),
    path("backtests/<str:backtest_id>/again/", backtest.backtest_again, name="backtest_again"),
    path("dry-run/search/", dry_run_search, name="dry_run_search"),
    path("email-preview/", email_customer_preview, name="email_customer_preview"),
    path("dry-run/<str:kind>/<str:public_id>/", object_dry_run, name="object_dry_run"),
    path("<str:public_id>/", views.automation_detail, name="automation_detail"),
    path("<str:public_id>/edit/", views.automation_edit, name="automation_edit"),
    path("<str:public_id>/export/", automation_export_view, name="automation_export"),
    path("<str:public_id>/toggle/", views.automation_toggle, name="automation_toggle"),
    path("<str:public_id>/backfill/", automation_backfill, name="automation_backfill"),
    path("<str:public_id>/backtest/", backtest.automation_backtest, name="automation_backtest"),
    path("<str:public_id>/move/", views.automation_move, name="automation_move"),
    path("<str:public_id>/runs/<str:run_id>/", views.run_detail, name="run_detail"),
    path("<str:public_id>/runs/<str:run_id>/cancel/", views.run_cancel, name="run_cancel"),
]
