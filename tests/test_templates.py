"""Template hygiene that Django does not check for us."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_template_has_a_comment_tag_spanning_lines_which_django_would_print():
    """`{# … #}` is a one-line comment: spread over two lines, it reaches the page as text."""
    spanning = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for text in [path.read_text()]
        for match in re.finditer(r"\{#(.*?)#\}", text, re.S)
        if "\n" in match.group(1)
    ]
    assert not spanning, f"use {{% comment %}} instead: {spanning}"
