"""`make bench`: run the benchmark scenarios on PostgreSQL, print one table, write bench/results.json.

    python -m bench.run                 # every scenario
    python -m bench.run pages memory    # some of them
    python -m bench.run --quick …       # smaller sizes, to try a scenario out (figures not comparable)

DATABASE_URL (default postgres://relance@127.0.0.1:5432/relance_bench) is created if missing and
migrated; the benchmarks own that database and may empty it.
"""

import argparse
import importlib
import os
import secrets
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    from bench.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=f"any of: {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if unknown := [name for name in args.scenarios if name not in SCENARIOS]:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")

    from bench.harness import DEFAULT_DATABASE_URL, ensure_database

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith("postgres"):
        print("The benchmarks run on PostgreSQL: set DATABASE_URL=postgres://… (or leave it unset).")
        return 2
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # a scenario that wants Redis says so itself
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    # The workers run with DEBUG off, which refuses the development key: one key of this run for
    # this process and the workers alike.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from bench.harness import Context, machine, print_table, write_results

    ctx = Context(database_url=url, redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ctx.quick = args.quick
    info = machine()
    results = []
    for name in args.scenarios or SCENARIOS:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.scenarios.{name}")
        try:
            results.extend(module.run(ctx))
        except Exception:
            traceback.print_exc()
            print(f"!! {name} failed; the others go on", flush=True)
    print_table(info, results)
    write_results(info, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
