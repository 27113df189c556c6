from django.core.management.base import BaseCommand

from billing.schedules import register_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of the periodic billing jobs (safe to run again)."

    def handle(self, *args, **options):
        names = register_schedules()
        self.stdout.write(f"{len(names)} billing schedules registered: {', '.join(names)}")
