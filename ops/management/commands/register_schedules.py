from django.core.management.base import BaseCommand

from ops.periodic import register_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of every periodic task (safe to run again)."

    def handle(self, *args, **options):
        names = register_schedules()
        self.stdout.write(f"{len(names)} schedules registered: {', '.join(names)}")
