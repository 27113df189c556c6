"""The builder: create and edit an automation on one page (being built)."""

from django.http import Http404


def automation_new(request):
    raise Http404("The builder is being built.")


def automation_edit(request, public_id):
    raise Http404("The builder is being built.")
