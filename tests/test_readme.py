"""The README renders on a package index page, where relative links break: every link
and image in it must be an absolute URL (or an anchor within the page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests "
                    "(the tests run from a copy, as tools/check_wheel.sh does)")
def test_readme_links_are_absolute():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)", text)          # [text](target), ![alt](src)
    targets += re.findall(r"""(?:src|href)=["']([^"']+)""", text)
    assert targets, "no link found: the pattern no longer matches the README"
    relative = [t for t in targets if not re.match(r"(https?://|mailto:|#)", t)]
    assert relative == []
