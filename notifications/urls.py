"""Included under /settings/: the webhook endpoints and the email log."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_add, name="webhook_add"),
    path("webhooks/<str:public_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<str:public_id>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<str:public_id>/enabled/", views.webhook_set_enabled, name="webhook_set_enabled"),
    path("webhooks/<str:public_id>/roll-secret/", views.webhook_roll_secret, name="webhook_roll_secret"),
    path("webhooks/<str:public_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<str:public_id>/deliveries/<str:event_id>/", views.delivery_detail, name="delivery_detail"),
    path("webhooks/<str:public_id>/deliveries/<str:event_id>/resend/", views.delivery_resend, name="delivery_resend"),
    path("emails/", views.email_list, name="email_list"),
    path("emails/<str:public_id>/", views.email_detail, name="email_detail"),
    path("emails/<str:public_id>/html/", views.email_html, name="email_html"),
    path("emails/<str:public_id>/resend/", views.email_resend, name="email_resend"),
]
