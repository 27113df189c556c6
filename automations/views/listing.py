"""The automations list: grouped by trigger, priority order, toggles (being built)."""

from django.http import Http404
from django.shortcuts import render


def automation_list(request):
    return render(request, "billing/automations.html")


def automation_reorder(request):
    raise Http404


def automation_toggle(request, public_id):
    raise Http404


def automation_move(request, public_id):
    raise Http404
