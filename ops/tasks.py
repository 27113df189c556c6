"""django-q2 hooks of the ops app."""

from django_q.conf import Conf

from ops.heartbeats import beat_from_this_worker, task_finished, task_started


def start_cluster_beat(sender, proc_name: str, **kwargs) -> None:
    """django-q2's `post_spawn`, sent in each new worker process: beat for its cluster. (In sync
    mode django-q2 runs its worker loop in the caller for each task: no cluster to beat for.)"""
    if not Conf.SYNC:
        beat_from_this_worker()


def count_started(sender, **kwargs) -> None:
    """django-q2's `pre_execute`, in the worker about to run a task: progress (ops.heartbeats)."""
    task_started()


def count_finished(sender, **kwargs) -> None:
    """django-q2's `post_execute_in_worker`, in the worker that ran a task."""
    task_finished()
