"""django-q2's brokers, steady through a database or Redis restart.

A cluster's pusher pulls tasks from the broker in a loop, and its monitor acknowledges each task
done. django-q2 lets either die on the first error of a lost connection: the pusher logs a
traceback, sleeps 10 s and exits, the monitor exits mid-task, and the sentinel starts new ones
that die the same way until the server is back (84 tracebacks over three PostgreSQL restarts of
a few seconds). These brokers wait the outage out in place instead, as the dispatcher does
(`automations.outages.Outage`: one line when it begins, one when it ends, a doubling backoff):

- `dequeue` answers "nothing to do" while the connection is lost, after the backoff, so the
  pusher stays and still sees the cluster's stop;
- `acknowledge` tries again for a while; if the server stays away longer, the acknowledgement is
  given up with one line, and the broker hands the task out again once its lease (`retry`) ends,
  as it would after the monitor died (every task of ours may run twice).

Any other error goes up as before. `config/settings.py` names these in `Q_CLUSTER["broker_class"]`.
"""

import logging
import time

from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis

from automations.outages import Outage

logger = logging.getLogger(__name__)

ACKNOWLEDGE_TRIES = 6  # waits of 0.5, 1, 2, 4, 8 s in between: about 15 s


class _Steady:
    """`dequeue` and `acknowledge` through an outage (mixed in before django-q2's broker)."""

    def _outage(self) -> Outage:
        # Made on first use: the sentinel forks the pusher and the monitor from one broker, and
        # each then keeps its own outage.
        if getattr(self, "_steady_outage", None) is None:
            self._steady_outage = Outage("task queue")
        return self._steady_outage

    def dequeue(self):
        outage = self._outage()
        tasks = outage.run(super().dequeue)
        if tasks is None and outage.ongoing:
            time.sleep(outage.backoff())
        return tasks

    def acknowledge(self, task_id):
        outage, acknowledge = self._outage(), super().acknowledge
        for attempt in range(ACKNOWLEDGE_TRIES):
            if attempt:
                time.sleep(outage.backoff())
            if outage.run(lambda: acknowledge(task_id) or True):
                return
        logger.warning(
            "task %s done but not acknowledged (the task queue is still out of reach): "
            "the broker hands it out again when its lease ends",
            task_id,
        )


class SteadyORM(_Steady, ORM):
    """django-q2's ORM broker (the database's `django_q_ormq` table), steady through outages."""


class SteadyRedis(_Steady, Redis):
    """django-q2's Redis broker, steady through outages."""
