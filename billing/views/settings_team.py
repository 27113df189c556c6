"""Settings → Team: who can log in and with which role. Read-only; staff manage users in the admin."""

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from billing.services.team import team_overview, team_users
from billing.views.common import admin_changelist_url
from frame.htmx import HtmxHttpRequest, wants_fragment

PAGE_SIZE = 50


@require_safe
def team(request: HtmxHttpRequest) -> HttpResponse:
    page_obj = Paginator(team_users(), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page_obj,
        "members": team_overview(page_obj.object_list),
        "query": {},
        "users_admin_url": admin_changelist_url(request, "auth", "user"),
    }
    template = "billing/settings_team.html#results" if wants_fragment(request) else "billing/settings_team.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
