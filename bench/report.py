"""docs/benchmarks.md is shared: bench/analysis.py writes its head, and each other script owns
one section between ``<!-- name:begin -->`` and ``<!-- name:end -->`` markers."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_SECTION = re.compile(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", re.S)


def write_section(name: str, lines: list[str]) -> str:
    """Replace (or append) section ``name`` of the page; return the section's text."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = "\n".join([begin, *lines, end])
    text = PAGE.read_text(encoding="utf-8") if PAGE.exists() else "# Benchmarks\n"
    if begin in text:
        text = re.sub(
            re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    PAGE.write_text(text, encoding="utf-8")
    return section


def write_head(head: str) -> None:
    """Write the page's head (analysis figures), keeping every script's section."""
    previous = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    sections = [match.group(0) for match in _SECTION.finditer(previous)]
    PAGE.write_text("\n\n".join([head.rstrip(), *sections]) + "\n", encoding="utf-8")
