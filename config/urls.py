from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.v1 import urls as api_urls
from ops.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/api-keys/", include("api.urls")),
    path("settings/audit-log/", include("audit.urls")),
    path("settings/", include("notifications.urls")),
    path("automations/", include("automations.urls")),
    path("analytics/", include("automations.analytics_urls")),
    path("test-clocks/", include("automations.clock_urls")),
    path("v1/", api_urls()),
    path("", include("billing.urls")),
]
