from django.core.management.base import BaseCommand, CommandError

from billing.jobs import JOBS


class Command(BaseCommand):
    help = "Run the periodic billing jobs once, now (all of them, or the ones named)."

    def add_arguments(self, parser):
        parser.add_argument("jobs", nargs="*", help=f"Any of: {', '.join(JOBS)}")

    def handle(self, *args, jobs, **options):
        unknown = set(jobs) - set(JOBS)
        if unknown:
            raise CommandError(f"Unknown job(s): {', '.join(sorted(unknown))}. Known: {', '.join(JOBS)}")
        for name in jobs or JOBS:
            count = JOBS[name]()
            self.stdout.write(f"{name}: {count} handled")
