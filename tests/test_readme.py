"""The README names the dashboard's menus as the pages label them."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_settings_menu_the_readme_names_is_a_label_of_the_settings_navigation():
    readme = " ".join((ROOT / "README.md").read_text().split())
    nav = (ROOT / "templates/notifications/_settings_nav.html").read_text()
    labels = re.findall(r">([^<>{}]+)</a>", nav)
    named = [readme[m.end() : m.end() + 40] for m in re.finditer(r"Settings → ", readme)]
    assert named, "the README names no settings page"
    unknown = [text for text in named if not any(re.match(re.escape(label) + r"\b", text) for label in labels)]
    assert unknown == []
    assert "(Settings page)" not in readme  # which one: name it


def test_every_menu_the_readme_names_is_a_label_of_the_dashboards_navigation():
    readme = " ".join((ROOT / "README.md").read_text().split())
    base = (ROOT / "templates/base.html").read_text()
    labels = set(re.findall(r"\{% endblock %\}>([^<>{}]+)</a>", base))
    named = re.findall(r"\*\*([^*]+)\*\* in the menu", readme)
    assert named, "the README names no menu of the dashboard"
    assert [name for name in named if name not in labels] == []
