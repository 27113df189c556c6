import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.data import format_result, seed_demo


class Command(BaseCommand):
    help = (
        "Fill the database with demo billing data, a history of the past months simulated up to now, "
        "with the reference automations running through it (once; later runs change nothing), and "
        "ensure the demo logins exist. The history's emails are recorded as sent, not delivered. "
        "Refuses to run with DEBUG off, since it creates logins with published passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Run even though DEBUG is off (the demo logins have published passwords).",
        )

    def handle(self, *args, allow_without_debug: bool, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "seed_demo creates logins with published passwords; it runs only with DEBUG=1 "
                "(or pass --allow-without-debug)."
            )
        started = time.monotonic()
        result = seed_demo()
        self.stdout.write(format_result(result))
        self.stdout.write(f"\n(took {time.monotonic() - started:.1f}s)")
