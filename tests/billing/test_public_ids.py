"""Public ids: `<prefix>_` and 20 letters or digits, each of the 62 characters equally likely."""

import re
from collections import Counter

from billing.models.fields import new_public_id


def test_a_public_id_is_its_prefix_and_twenty_letters_or_digits():
    ids = {new_public_id("in") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"in_[A-Za-z0-9]{20}", public_id) for public_id in ids)


def test_every_character_is_about_equally_likely():
    counts = Counter("".join(new_public_id("x")[2:] for _ in range(31_000)))  # 620,000 characters
    assert len(counts) == 62
    expected = 10_000
    assert all(abs(n - expected) < 600 for n in counts.values()), counts  # ±6 standard deviations
