"""The overview."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from billing import selectors


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/home.html", {"overview": selectors.overview()})
