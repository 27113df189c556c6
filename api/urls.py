"""Included under /settings/api-keys/: the API keys page (the API itself is at /v1/)."""

from django.urls import path

from api import views

app_name = "api_keys"

urlpatterns = [
    path("", views.api_keys, name="list"),
    path("<str:public_id>/revoke/", views.api_key_revoke_view, name="revoke"),
]
