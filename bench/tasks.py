"""Tasks the benchmarks enqueue to measure django-q2 itself."""


def noop() -> None:
    """Does nothing: what the broker and the cluster cost per task."""
