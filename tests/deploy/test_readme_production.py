"""The README's "Running in production" section is enough to deploy: every setting read from the
environment is listed, the supported versions are the ones the code needs, and the steps it gives
are the ones the production smoke test runs."""

import re

from django.db.backends.postgresql.features import DatabaseFeatures

from tests.deploy.service_files import ROOT, procfile_commands

# Where settings are read from the environment (config/logging.py: LOG_FORMAT); the test
# settings only set values for the suite.
SETTINGS_MODULES = [path for path in (ROOT / "config").glob("*.py") if path.name != "settings_test.py"]


def production_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Running in production")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def settings_read_from_the_environment() -> set[str]:
    names = set()
    for module in SETTINGS_MODULES:
        names |= set(re.findall(r"env_\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", module.read_text()))
    return names


def test_it_lists_every_setting_read_from_the_environment():
    section = production_section()
    names = settings_read_from_the_environment()
    assert len(names) > 30  # the reader found them
    missing = sorted(name for name in names if f"`{name}`" not in section)
    assert missing == []


def test_it_names_djangos_minimum_postgresql_version():
    supported = re.search(r"PostgreSQL (\d+) or newer", production_section())
    assert supported, "the README does not say which PostgreSQL versions are supported"
    assert int(supported.group(1)) == DatabaseFeatures.minimum_database_version[0]


def test_it_names_the_supported_redis_versions():
    assert re.search(r"Redis \d+(\.\d+)? or newer", production_section())


def test_it_gives_the_procfile_commands_and_the_service_files():
    section = production_section()
    for command in procfile_commands().values():
        assert command in section
    for unit in ("relance-web.service", "relance-worker.service", "relance-dispatcher.service", "relance.target"):
        assert unit in section
    assert "deploy/relance.env.example" in section


def test_it_gives_every_step_the_production_smoke_test_runs():
    from tests.deploy.test_production_smoke import FIRST_RUN

    section = production_section()
    missing = [" ".join(step) for step in FIRST_RUN if " ".join(step) not in section]
    assert missing == []


def test_the_batch_sizes_fixed_in_code_are_the_ones_it_gives():
    from automations.engine.dispatch import STEPS_PER_TASK
    from automations.receivers import EVENTS_PER_TASK

    sentence = r"Fixed in code, not settings: a dispatcher batch is (\d+) steps per task, a batch of events (\d+)"
    fixed = re.search(sentence, production_section())
    assert fixed, "the README does not give the batch sizes fixed in code"
    assert (int(fixed[1]), int(fixed[2])) == (STEPS_PER_TASK, EVENTS_PER_TASK)
