import signal
import time

from django.core.management.base import BaseCommand

from automations.engine.dispatch import dispatch_to_workers
from automations.engine.handling import handle_unhandled
from ops.services import DISPATCHER, beat

CLAIM_LIMIT = 200  # steps per claim; a full claim means a backlog: claim again at once


class Command(BaseCommand):
    help = (
        "Hand automation steps to the django-q2 workers as they fall due (polls every --interval seconds); "
        "stop with SIGTERM/Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.2, help="Seconds between polls when idle.")
        parser.add_argument("--once", action="store_true", help="Run what is due now, then exit.")

    def handle(self, *args, interval: float, once: bool, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.stdout.write(f"Automation dispatcher running (poll every {interval} s).")
        last_sweep = 0.0
        while not self.stopping:
            beat(DISPATCHER)  # for /health/ (throttled to one write every few seconds)
            if time.monotonic() - last_sweep > 30:
                handle_unhandled()
                last_sweep = time.monotonic()
            done = dispatch_to_workers(limit=CLAIM_LIMIT)
            if once:
                break
            if done < CLAIM_LIMIT:
                # Caught up: wait for more to fall due rather than hand out a task per step or two.
                time.sleep(interval)
        self.stdout.write("Automation dispatcher stopped.")

    def _stop(self, signum, frame):
        self.stopping = True
