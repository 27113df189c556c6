"""The overview and the automations placeholder."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from billing import selectors


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/home.html", {"overview": selectors.overview()})


@require_safe
def automations(request: HttpRequest) -> HttpResponse:
    # The automation engine arrives in a later issue: the page explains it and shows no data.
    return render(request, "billing/automations.html")
