"""The repository's process definitions, read the way their runners read them: the Procfile
(one `kind: command` a line) and the systemd units in deploy/systemd/."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
UNITS = ROOT / "deploy" / "systemd"
# Where the units expect the install (README: Running in production).
INSTALL_DIR = "/srv/relance"
VENV_BIN = f"{INSTALL_DIR}/.venv/bin"


def procfile_commands() -> dict[str, str]:
    """Process kind → command line, in the Procfile's order."""
    commands = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            kind, _, command = line.partition(":")
            commands[kind.strip()] = command.strip()
    return commands


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Section → key → values (a key may repeat, e.g. After=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return sections
