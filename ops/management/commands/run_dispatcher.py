import logging
import signal
import time

from django.core.management.base import BaseCommand

from automations.engine.dispatch import dispatch_to_workers
from automations.engine.handling import EventSweep
from automations.outages import Outage
from ops.heartbeats import DISPATCHER, beat, stopped, workers_alive

logger = logging.getLogger(__name__)

CLAIM_LIMIT = 200  # steps per claim; a full claim means a backlog: claim again at once
SWEEP_EVERY = 30  # seconds between sweeps for events no task handled


class Command(BaseCommand):
    help = (
        "Hand automation steps to the django-q2 workers as they fall due (polls every --interval seconds); "
        "stop with SIGTERM/Ctrl-C. A database or broker outage is waited out: the loop reconnects and goes on. "
        "While no worker cluster beats, no step is claimed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.2, help="Seconds between polls when idle.")
        parser.add_argument("--once", action="store_true", help="Run what is due now, then exit.")

    def handle(self, *args, interval: float, once: bool, **options):
        self.stopping = False
        self.last_sweep = float("-inf")
        self.event_sweep = EventSweep()
        self.workers_were_alive = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        if once:
            self._tick()
            stopped(DISPATCHER)
            return
        logger.info("Automation dispatcher running (poll every %s s).", interval)
        outage = Outage("dispatcher")
        while not self.stopping:
            done = outage.run(self._tick)
            if done is None:  # the database or the broker is out of reach: wait, then reconnect
                self._pause(outage.backoff())
            elif done < CLAIM_LIMIT:
                # Caught up: wait for more to fall due rather than hand out a task per step or two.
                self._pause(interval)
        outage.run(lambda: stopped(DISPATCHER))  # gone, not quiet: /health/ stops listing it
        logger.info("Automation dispatcher stopped.")

    def _tick(self) -> int:
        beat(DISPATCHER)  # for /health/ (throttled to one write every few seconds)
        if time.monotonic() - self.last_sweep > SWEEP_EVERY:
            self.event_sweep.run()
            self.last_sweep = time.monotonic()
        if not self._workers_alive():
            return 0
        return dispatch_to_workers(limit=CLAIM_LIMIT)

    def _workers_alive(self) -> bool:
        """A step claimed while no worker cluster runs would wait for its lease to run out, then
        run late: claim nothing until a cluster beats again (logged once each way)."""
        alive = workers_alive()
        if alive != self.workers_were_alive:
            if alive:
                logger.info("dispatcher: a worker cluster beats again; claiming due steps")
            else:
                logger.warning(
                    "dispatcher: no worker cluster is alive (or every one is wedged); claiming no steps until one beats"
                )
            self.workers_were_alive = alive
        return alive

    def _pause(self, seconds: float) -> None:
        """Sleep, but stop waiting as soon as we are told to stop (a backoff lasts up to 10 s)."""
        until = time.monotonic() + seconds
        while not self.stopping and (left := until - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def _stop(self, signum, frame):
        self.stopping = True
