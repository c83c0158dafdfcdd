"""The README stays what a newcomer reads on one screen or two: at most 250 lines, the two
commands, no measured figures kept by hand, and every relative link pointing at a file that
exists (the docs site's own links are checked by `make docs`, which builds with --strict)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_is_short():
    assert len(README.splitlines()) <= 250


def test_readme_states_the_two_commands():
    assert "make train" in README and "make test" in README


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    relative = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert relative, "the README links the docs"
    missing = [link for link in relative if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_keeps_no_test_counts():
    assert not re.search(r"\d+ passed|\d+ skipped", README), "test counts belong in benchmarks/RESULTS.md"
