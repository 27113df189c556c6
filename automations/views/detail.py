"""An automation's detail page, its runs and each run's timeline (being built)."""

from django.http import Http404


def automation_detail(request, public_id):
    raise Http404


def run_detail(request, public_id, run_id):
    raise Http404


def run_cancel(request, public_id, run_id):
    raise Http404
