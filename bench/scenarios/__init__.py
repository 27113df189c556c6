"""Benchmark scenarios: each module has `run(ctx) -> list[Result]`; this order is the table's."""

SCENARIOS = [
    "event_to_run",  # 1
    "due_steps",  # 2
    "lateness",  # 3
    "webhook_fanout",  # 4
    "billing_sweep",  # 5
    "pages",  # 6
    "admin_pages",  # 6b (issue 17: the Django admin at the same scale)
    "memory",  # 7
    "backtest",  # 8 (issue 14)
    "api",  # 9 (issue 15)
    "analytics",  # 10 (issue 16)
]
