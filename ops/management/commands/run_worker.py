import signal

from django.core.management.base import BaseCommand, CommandError

from ops.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Run a django-q2 cluster (qcluster) and restart it when it wedges (django-q2 #23: a worker killed "
        "while holding the task queue's lock stops the cluster); see ops/supervisor.py. SIGTERM/Ctrl-C "
        "stop the cluster gracefully."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check-every", type=float, default=2.0, help="Seconds between looks at the cluster's heartbeat."
        )
        parser.add_argument(
            "--stop-grace",
            type=float,
            default=5.0,
            help="Seconds a wedged cluster is given to stop on SIGTERM before its processes are killed.",
        )

    def handle(self, *args, check_every: float, stop_grace: float, **options):
        supervisor = Supervisor(check_every=check_every, stop_grace=stop_grace)
        signal.signal(signal.SIGTERM, supervisor.stop)
        signal.signal(signal.SIGINT, supervisor.stop)
        code = supervisor.run()
        if code:
            raise CommandError(f"qcluster exited with code {code}", returncode=code)
