"""README.md as data, for tests/test_readme.py: its ``##`` sections, their fenced blocks, the
commands (or top-level Python statements) of a block and the answers the README shows for them
(``# {...}`` comment lines right after a command), and the comparison of a shown answer with a
real one.

A shown answer may elide with ``…``; it is then compared by its parts: the ``extensions.code``
values (the same set), every ``"key": scalar`` it shows (somewhere in the real answer), and its
``data`` (contained when that part is JSON, else the same top-level keys). A shown answer that is JSON is compared whole: everything it
shows must be in the real answer (the real one may carry more, e.g. ``extensions.cost``).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Block",
    "Step",
    "anchor",
    "blocks",
    "python_steps",
    "sections",
    "shell_steps",
    "shown_answer_problems",
]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
DIRECTIVE = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<words>.*?)\s*-->\s*$")
CODE = re.compile(r'"code"\s*:\s*"([A-Za-z_]+)"')
# "key": a scalar, in a shown answer's text: each pair must be in the real answer too.
SCALAR = re.compile(
    r'"(\w+)"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null)'
)


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (the info string's first word), its text without the
    fence's indentation, the README line its text starts on, its ``##`` section and the
    words of a ``<!-- readme-test: ... -->`` comment right above it."""

    language: str
    text: str
    line: int
    section: str
    directives: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.language} block in '{self.section}')"


@dataclass
class Step:
    """A shell command or a top-level Python statement: its lines (0-based, within the
    block) and the answer the README shows right after it, if any."""

    first: int
    last: int
    text: str
    shown: str | None = None

    @property
    def program(self) -> str:
        """The command's first word, past ``NAME=value`` prefixes (shell steps)."""
        words = re.match(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*=(?!\$\()\S*\s+)*(\S+)", self.text)
        return words.group(1) if words else ""


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    found: list[Block] = []
    section = "(top)"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("## "):
            section = line[3:].strip()
        opening = FENCE.match(line)
        if opening is None:
            number += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        info = opening["info"].strip()
        directives: tuple[str, ...] = ()
        above = number - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above >= 0 and (directive := DIRECTIVE.match(lines[above])):
            directives = tuple(directive["words"].split())
        body: list[str] = []
        number += 1
        while number < len(lines) and not re.match(rf"^[ \t]*{fence}`*\s*$", lines[number]):
            text = lines[number]
            strip = len(text) - len(text.lstrip(" \t"))
            body.append(text[min(indent, strip) :])
            number += 1
        language = info.split()[0].lower() if info else ""
        start = number - len(body) + 1  # 1-based line of the block's first text line
        found.append(Block(language, "\n".join(body) + "\n", start, section, directives))
        number += 1
    return found


def sections(path: Path) -> list[str]:
    """The ``##`` headings, in order."""
    return [
        line[3:].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]


def anchor(heading: str) -> str:
    """The link anchor GitHub gives a heading: lower case, punctuation dropped, spaces to
    hyphens.

    >>> anchor("Authorization: `@authenticated`, `@policy` and object rules")
    'authorization-authenticated-policy-and-object-rules'
    """
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def shell_steps(text: str) -> list[Step]:
    """The commands of a shell block (a line, its ``\\`` continuations, the lines of a quote
    it opens or of its here-document), each with the answer shown in the comment lines right
    after it."""
    lines = text.splitlines()
    steps: list[Step] = []
    number = 0
    while number < len(lines):
        stripped = lines[number].strip()
        if not stripped or stripped.startswith("#"):
            number += 1
            continue
        first = number
        heredoc = re.search(r"<<-?\s*['\"]?([A-Za-z_]\w*)", lines[number])
        if heredoc is not None:  # up to its terminator line, whatever its lines hold
            number += 1
            while number < len(lines) - 1 and lines[number].strip() != heredoc.group(1):
                number += 1
        while (
            heredoc is None
            and number + 1 < len(lines)
            and (
                lines[number].rstrip().endswith("\\")
                or _open_quote("\n".join(lines[first : number + 1]))
            )
        ):
            number += 1
        step = Step(first, number, "\n".join(lines[first : number + 1]))
        step.shown = _shown_after(lines, number + 1)
        steps.append(step)
        number += 1
    return steps


def _open_quote(command: str) -> bool:
    """Whether a shell command's text ends inside a single- or double-quoted string (a ``#``
    that starts a word outside quotes comments out the rest of its line)."""
    quote, number = "", 0
    while number < len(command):
        char = command[number]
        if char == "\\" and quote != "'":
            number += 1  # the next character is escaped
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (number == 0 or command[number - 1].isspace()):
            end = command.find("\n", number)
            number = len(command) if end < 0 else end
        number += 1
    return bool(quote)


def python_steps(text: str) -> list[Step]:
    """The top-level statements of a Python block, each with the answer shown in the comment
    lines right after it (raises SyntaxError for a block that is not Python)."""
    lines = text.splitlines()
    steps = []
    for statement in ast.parse(text).body:
        first = min(
            [statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", []))]
        )
        last = statement.end_lineno or statement.lineno
        step = Step(first - 1, last - 1, "\n".join(lines[first - 1 : last]))
        step.shown = _shown_after(lines, last)
        steps.append(step)
    return steps


def defines(text: str, name: str) -> bool:
    """Whether a Python block assigns ``name`` at module level."""
    for statement in ast.parse(text).body:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = list(statement.targets)
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return True
    return False


def defines_tests(text: str) -> bool:
    """Whether a Python block is a pytest module (a module-level ``def test_...``)."""
    return any(
        isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
        and statement.name.startswith("test_")
        for statement in ast.parse(text).body
    )


def _shown_after(lines: list[str], start: int) -> str | None:
    """The answer shown from line ``start`` on: comment lines whose first starts with ``{`` or
    ``[``, continued while brackets are open or a line is indented past ``# ``."""
    if start >= len(lines) or not lines[start].startswith("#"):
        return None
    content = lines[start][1:].removeprefix(" ")
    if not content.startswith(("{", "[")):
        return None
    shown = [content]
    depth = _depth(content)
    for line in lines[start + 1 :]:
        more = line[1:]
        if not line.startswith("#") or (depth <= 0 and not more.startswith("  ")):
            break
        shown.append(more.removeprefix(" "))
        depth += _depth(more)
    return "\n".join(shown)


def _json_tokens(text: str, start: int = 0) -> Iterator[tuple[str, int, int, int]]:
    """``(kind, begin, end, depth)`` for every bracket (``open``/``close``, depth after it)
    and every string (``begin``/``end`` at its quotes) from ``start``: the one scanner of
    the README's (possibly elided) JSON."""
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char == '"':
            close, escaped = index + 1, False
            while close < len(text) and (escaped or text[close] != '"'):
                escaped = text[close] == "\\" and not escaped
                close += 1
            yield "string", index, close, depth
            index = close + 1
            continue
        if char in "{[":
            depth += 1
            yield "open", index, index, depth
        elif char in "}]":
            depth -= 1
            yield "close", index, index, depth
        index += 1


def _depth(text: str) -> int:
    """Opened minus closed brackets, outside JSON strings."""
    depth = 0
    for kind, _, _, after in _json_tokens(text):
        if kind != "string":
            depth = after
    return depth


def shown_answer_problems(shown: str, actual: str) -> list[str]:
    """What differs between an answer the README shows and the real one (empty: they agree)."""
    try:
        real = json.loads(actual)
    except ValueError:
        return [f"the answer is not JSON: {actual[:300]!r}"]
    try:
        expected = json.loads(shown)
    except ValueError:
        return _elided_problems(shown, real)
    if _contains(real, expected):
        return []
    return [f"the README shows {shown}, the answer is {actual[:600]}"]


def _elided_problems(shown: str, real: Any) -> list[str]:
    problems = []
    shown_codes = set(CODE.findall(shown))
    real_codes = {value for key, value in _items(real) if key == "code"}
    if shown_codes != real_codes:
        problems.append(
            f"codes: the README shows {sorted(shown_codes)}, the answer has {sorted(real_codes)}"
        )
    real_pairs = {(key, json.dumps(value)) for key, value in _items(real)}
    for key, value in SCALAR.findall(shown):
        if (key, json.dumps(json.loads(value))) not in real_pairs:
            problems.append(f'"{key}": {value} is not in the answer')
    has_data = isinstance(real, dict) and "data" in real
    if '"data"' in shown:
        if not has_data:
            problems.append("the README shows data, the answer has none")
        else:
            problems += _data_problems(shown, real["data"])
    if '"errors"' not in shown and isinstance(real, dict) and "errors" in real:
        problems.append(f"the README shows no errors, the answer has {real['errors']}")
    return problems


def _data_problems(shown: str, data: Any) -> list[str]:
    start = shown.index(":", shown.index('"data"') + len('"data"')) + 1
    part = _value_at(shown, start)
    try:
        value = json.loads(part)
    except ValueError:
        keys = _top_keys(part)
        real_keys = set(data) if isinstance(data, dict) else set()
        if keys <= real_keys:
            return []
        return [f"data keys: the README shows {sorted(keys)}, the answer has {sorted(real_keys)}"]
    if _contains(data, value):
        return []
    return [f"data: the README shows {part}, the answer has {json.dumps(data)}"]


def _top_keys(text: str) -> set[str]:
    """The keys of an object's first level, read from its (possibly elided) text."""
    return {
        text[begin + 1 : end]
        for kind, begin, end, depth in _json_tokens(text)
        if kind == "string" and depth == 1 and text[end + 1 :].lstrip().startswith(":")
    }


def _value_at(text: str, start: int) -> str:
    """The JSON value that starts at ``start`` (past spaces), up to where its brackets close
    (or the text ends)."""
    while start < len(text) and text[start].isspace():
        start += 1
    if not text.startswith(("{", "["), start):  # a scalar: up to the next separator
        return re.split(r"[,}\]]", text[start:], maxsplit=1)[0].strip()
    for kind, begin, _, depth in _json_tokens(text, start):
        if kind == "close" and depth == 0:
            return text[start : begin + 1]
    return text[start:]


def _contains(real: Any, shown: Any) -> bool:
    """Whether everything ``shown`` holds is in ``real`` (objects may have more keys)."""
    if isinstance(shown, dict):
        return isinstance(real, dict) and all(
            key in real and _contains(real[key], value) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return (
            isinstance(real, list)
            and len(real) == len(shown)
            and all(_contains(r, s) for r, s in zip(real, shown, strict=True))
        )
    return bool(real == shown and isinstance(real, bool) == isinstance(shown, bool))


def _items(value: Any) -> list[tuple[str, Any]]:
    """Every (key, value) pair of a JSON value, at any depth."""
    found: list[tuple[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(item.items())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
