"""Every shell and Python snippet of README.md runs, so none can drift.

Each ``##`` section with a runnable block is one test: its blocks run in README order, in a
fresh copy of the repository's tracked files (with ``.venv`` linked to the virtualenv running
the tests), with no ``GQLGUARD_*`` variable set. What a block may be:

- ``sh``/``bash``: run with ``bash -eo pipefail``, ``gqlguard``, ``python`` and ``uvicorn`` from
  the virtualenv. ``localhost:8000`` is the demo (``schema_example.app:app`` under uvicorn, as
  ``make demo`` serves it, one server for the module) or, from a ``make demo`` command on, the
  demo that command started (with its line's variables), until the section ends. ``make`` and ``pip`` are stand-ins (tests/readme_shims.py says what each does
  instead), ``/path/to/gqlguard`` is the copy, a ``github.com/<you>/gqlguard`` URL is this
  repository, ``$REDIS_URL`` a private redis-server. An answer shown in ``# {...}`` comment
  lines right after a command is compared with the command's output
  (tests/readme_blocks.py says how); a ``curl`` whose answer is not shown must be answered
  without ``errors``.
- ``python``: a complete program, run with ``python FILE`` in the copy (a first line
  ``# name.py`` saves it under that name, for the blocks after it to import); a block with a
  module-level ``def test_...`` runs under pytest. An answer shown after a top-level statement
  is compared with what that statement printed.
- ``python`` defining a module-level ``app``, followed in its section by a block marked
  ``<!-- readme-test: each-app -->``: saved as ``app.py`` and served with ``uvicorn app:app``;
  the marked shell block runs against each such app in turn, instead of the demo.
- ``toml``: parsed; its ``[tool.gqlguard]`` table is loaded as a pyproject.toml would be.
- ``json``: an answer or a log line shown to the reader, not run.

A block in any other language fails ``test_every_block_is_run_or_shown``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .readme_blocks import (
    Block,
    Step,
    anchor,
    blocks,
    defines,
    defines_tests,
    python_steps,
    sections,
    shell_steps,
    shown_answer_problems,
)
from .readme_shims import stop_demos
from .servers import RedisServer, free_port, serve, stop

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHIMS = Path(__file__).resolve().parent / "readme_shims.py"
BLOCKS = blocks(README)
SHELL = {"sh", "bash"}
RUN = SHELL | {"python", "toml"}
SHOWN = {"json"}
DIRECTIVES = {"each-app"}
MARK = "@@readme-step@@"
NAMED_FILE = re.compile(r"^#\s*([\w./-]+\.py)(?:\s|$)")
BLOCK_SECONDS = 300


def runnable_sections() -> list[str]:
    return list(dict.fromkeys(b.section for b in BLOCKS if b.language in RUN))


def test_every_block_is_run_or_shown() -> None:
    unknown = [b.where for b in BLOCKS if b.language not in RUN | SHOWN]
    assert not unknown, (
        f"blocks tests/test_readme.py cannot run: {unknown}; write them as sh, python or toml "
        f"(or json for an answer shown), or teach the test their language"
    )
    directives = [(b.where, b.directives) for b in BLOCKS if set(b.directives) - DIRECTIVES]
    assert not directives, (
        f"unknown readme-test directives (known: {sorted(DIRECTIVES)}): {directives}"
    )


def test_the_contents_link_every_section_in_order() -> None:
    text = README.read_text(encoding="utf-8")
    head = text[: text.index("\n## ")]
    linked = re.findall(r"\]\(#([^)]+)\)", head)
    assert linked == [anchor(heading) for heading in sections(README)]


@pytest.mark.parametrize("section", runnable_sections(), ids=anchor)
def test_readme_section_runs(section: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    SectionRun(section, tmp_path, request).run()


# The harness's own checks: a shown answer that drifted is caught.


def test_a_shown_answer_with_another_code_is_a_drift() -> None:
    shown = '{"errors":[{"message":"Query is too deep.","extensions":{"code":"DEPTH_LIMIT_EXCEEDED"}}, …]}'
    real = (
        '{"errors":[{"message":"Query is too deep.","extensions":{"code":"DEPTH_LIMIT_EXCEEDED"}}]}'
    )
    assert shown_answer_problems(shown, real) == []
    drifted = real.replace("DEPTH_LIMIT_EXCEEDED", "ALIAS_LIMIT_EXCEEDED")
    assert shown_answer_problems(shown, drifted)


def test_a_shown_answer_is_compared_whole_when_it_is_json() -> None:
    shown = '{"data":{"me":{"name":"Ada"}}}'
    assert shown_answer_problems(shown, '{"data":{"me":{"name":"Ada"}},"extensions":{}}') == []
    assert shown_answer_problems(shown, '{"data":{"me":{"name":"Grace"}}}')
    assert shown_answer_problems(shown, '{"data":{"me":null},"errors":[{"message":"x"}]}')


def test_an_elided_answer_is_compared_by_its_codes_values_and_data() -> None:
    real = (
        '{"errors":[{"message":"Unauthorized field or type.","path":["user","orders",0],'
        '"extensions":{"code":"UNAUTHORIZED_FIELD_OR_TYPE"}}],"data":{"user":{"orders":[]}}}'
    )
    shown = (
        '{"errors":[{"message":"Unauthorized field or type.", …,'
        ' "extensions":{"code":"UNAUTHORIZED_FIELD_OR_TYPE"}}, …],\n "data":{"user":{"orders":[]}}, …}'
    )
    assert shown_answer_problems(shown, real) == []
    assert shown_answer_problems(shown.replace("UNAUTHORIZED_FIELD_OR_TYPE", "FORBIDDEN"), real)
    assert shown_answer_problems(shown.replace("Unauthorized", "Forbidden"), real)
    assert shown_answer_problems(shown.replace("[]", '[{"id":"3"}]'), real)
    assert shown_answer_problems(shown, real.replace(',"data":{"user":{"orders":[]}}', ""))


def test_blocks_are_read_with_their_section_directive_and_indentation(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# title\n\n## First\n\n<!-- readme-test: each-app -->\n```sh\necho 1\n```\n\n"
        "## Second\n\n- a list item:\n\n  ```python\n  if True:\n      x = 1\n  ```\n"
        "````text\n```\n````\n"
    )
    found = blocks(readme)
    assert [(b.language, b.section, b.directives) for b in found] == [
        ("sh", "First", ("each-app",)),
        ("python", "Second", ()),
        ("text", "Second", ()),
    ]
    assert found[1].text == "if True:\n    x = 1\n"
    assert found[2].text == "```\n"
    assert found[1].line == 15  # the first line of its text


def test_shown_answers_are_read_after_their_commands() -> None:
    steps = shell_steps(
        "# a comment\n"
        "TOKEN=$(make -s token)\n"
        "curl -s localhost:8000/graphql \\\n"
        '  -d \'{"query":"{ a }"}\'\n'
        '# {"errors":[{"message":"x",\n'
        '#   "extensions":{"code":"A"}}]}\n'
        "# prose, not an answer\n"
        "make demo   # don't wait\n"
        'curl -d \'{"query":\n  "{ a }"}\'\n'
        "cat > q.graphql <<EOF\n{ it's }\nEOF\n"
        "echo done\n"
    )
    assert [step.program for step in steps] == [
        "TOKEN=$(make",
        "curl",
        "make",
        "curl",
        "cat",
        "echo",
    ]
    assert [step.shown for step in steps] == [
        None,
        '{"errors":[{"message":"x",\n  "extensions":{"code":"A"}}]}',
        None,
        None,
        None,
        None,
    ]
    assert steps[3].text.count("\n") == 1 and steps[4].text.endswith("EOF")
    statements = python_steps("import json\nprint(json.dumps([1]))\n# [1]\nx = 1\n")
    assert [step.shown for step in statements] == [None, "[1]", None]


class SectionRun:
    """One section's blocks, in order, in one fresh copy of the repository."""

    def __init__(self, section: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.blocks = [b for b in BLOCKS if b.section == section]
        self.request = request
        self.checkout = copy_repository(tmp_path / "repo")
        self.state = tmp_path / "state"
        (self.state / "bin").mkdir(parents=True)
        for tool in ("make", "pip"):
            wrapper = self.state / "bin" / tool
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{SHIMS}" {tool} "$@"\n')
            wrapper.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GQLGUARD_")}
        self.env.update(
            PATH=os.pathsep.join(
                [str(self.state / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]]
            ),
            PYTHONDONTWRITEBYTECODE="1",
            READMETEST_MAKE=shutil.which("make") or "make",
            READMETEST_STATE=str(self.state),
        )
        self.env.pop("VIRTUAL_ENV", None)
        self.demo_port: int | None = None

    def run(self) -> None:
        try:
            self.run_blocks()
        finally:
            self.stop_demos()

    def run_blocks(self) -> None:
        apps: list[Block] = []
        for number, block in enumerate(self.blocks):
            if block.language in SHELL and "each-app" in block.directives:
                assert apps, f"{block.where}: each-app, but no Python block before it defines app"
                for app in apps:
                    with self.served(app) as address:
                        self.run_shell(block, address, f"against the app of {app.where}")
            elif block.language in SHELL:
                self.run_shell(block, None, "against the demo")
            elif block.language == "python":
                later = self.blocks[number + 1 :]
                served_later = any("each-app" in b.directives for b in later)
                if served_later and defines(block.text, "app"):
                    apps.append(block)
                else:
                    self.run_python(block)
            elif block.language == "toml":
                self.run_toml(block)

    # Shell

    def run_shell(self, block: Block, address: str | None, against: str) -> None:
        steps = shell_steps(block.text)
        env = dict(self.env)
        if any(step.program == "make" and "demo" in step.text.split() for step in steps):
            self.demo_port = self.demo_port or free_port()
        if self.demo_port is not None:
            # A demo `make demo` started serves the rest of the section, as it would a reader.
            env["READMETEST_DEMO_PORT"] = str(self.demo_port)
            if address is None:
                address = f"127.0.0.1:{self.demo_port}"
                against = "against the demo `make demo` started in this section"
        if address is None:
            address = self.request.getfixturevalue("readme_demo")
        if "REDIS_URL" in block.text:
            env["REDIS_URL"] = self.request.getfixturevalue("readme_redis")
        starts = {step.first: index for index, step in enumerate(steps)}
        script = ["set -eo pipefail"]
        for number, line in enumerate(block.text.splitlines()):
            if number in starts:
                script.append(f"printf '\\n{MARK}%s\\n' {starts[number]}")
            script.append(self.substitute(line, address))
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=self.checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_SECONDS,
        )
        outputs = done.stdout.split(f"\n{MARK}")[1:]
        where = f"{block.where}, {against}"
        if done.returncode != 0:
            failed = steps[len(outputs) - 1].text if outputs else "(before the first command)"
            pytest.fail(
                f"{where}: exit status {done.returncode} in\n{failed}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )
        problems = []
        for step, output in zip(steps, outputs, strict=True):
            answer = output.split("\n", 1)[1].strip() if "\n" in output else ""
            problems += [f"{step.text}\n  -> {p}" for p in self.answer_problems(step, answer)]
        assert not problems, f"{where}:\n" + "\n".join(problems)

    def answer_problems(self, step: Step, answer: str) -> list[str]:
        if step.shown is not None:
            return shown_answer_problems(step.shown, answer)
        if step.program == "curl":  # an answer not shown is an accepted one: JSON, no errors
            problems = shown_answer_problems("{}", answer)
            if not problems and '"errors"' in answer:
                problems.append(f"refused, and the README does not show it: {answer[:600]}")
            return problems
        return []

    def substitute(self, line: str, address: str) -> str:
        for written, meant in (
            ("localhost:8000", address),
            ("127.0.0.1:8000", address),
            ("https://github.com/<you>/gqlguard", f"file://{ROOT}"),
            ("/path/to/gqlguard", str(self.checkout)),
        ):
            line = line.replace(written, meant)
        return line

    def stop_demos(self) -> None:
        stop_demos(self.state)

    @contextmanager
    def served(self, block: Block) -> Iterator[str]:
        (self.checkout / "app.py").write_text(block.text, encoding="utf-8")
        port = free_port()
        log = self.state / f"app-{block.line}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port)],
                cwd=self.checkout,
                env=self.env,
                stdout=output,
                stderr=output,
            )
        try:
            url = f"http://127.0.0.1:{port}/graphql"
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"{block.where}: `uvicorn app:app` exited:\n{log.read_text()[-3000:]}"
                    )
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"{block.where}: no answer on {url}"
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            stop(process)

    # Python

    def run_python(self, block: Block) -> None:
        try:
            steps = python_steps(block.text)
        except SyntaxError as error:
            pytest.fail(f"{block.where}: not a Python program: {error}")
        named = NAMED_FILE.match(block.text)
        name = named.group(1) if named else f"readme_{block.line}.py"
        (self.checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (self.checkout / name).write_text(block.text, encoding="utf-8")
        shown = [step for step in steps if step.shown is not None]
        if defines_tests(block.text):
            command = ["-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", name]
        elif shown:
            command = [self.instrumented(block, shown)]
        else:
            command = [name]
        done = self.python(command, self.checkout)
        assert done.returncode == 0, (
            f"{block.where}: `python {' '.join(command)}` exit status {done.returncode}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )
        problems = []
        for index, step in enumerate(shown):
            printed = done.stdout.split(f"{MARK}{index}-begin\n")[1].split(f"{MARK}{index}-end")[0]
            assert step.shown is not None
            problems += [
                f"{step.text}\n  -> {p}" for p in shown_answer_problems(step.shown, printed)
            ]
        assert not problems, f"{block.where}:\n" + "\n".join(problems)

    def python(self, arguments: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
        """This interpreter with ``arguments``, in ``folder``, with the section's
        environment; output captured."""
        return subprocess.run(
            [sys.executable, *arguments],
            cwd=folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_SECONDS,
        )

    def instrumented(self, block: Block, shown: list[Step]) -> str:
        """The block with marker lines around each statement whose output is shown."""
        lines = block.text.splitlines()
        marks: dict[int, list[str]] = {}
        for index, step in enumerate(shown):
            marks.setdefault(step.first, []).append(f"print('{MARK}{index}-begin', flush=True)")
            marks.setdefault(step.last + 1, []).insert(0, f"print('{MARK}{index}-end', flush=True)")
        program = []
        for number in range(len(lines) + 1):
            program += marks.get(number, [])
            program += lines[number : number + 1]
        name = f"readme_{block.line}_shown.py"
        (self.checkout / name).write_text("\n".join(program) + "\n", encoding="utf-8")
        return name

    # TOML

    def run_toml(self, block: Block) -> None:
        try:
            settings = tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as error:
            pytest.fail(f"{block.where}: not TOML: {error}")
        assert "gqlguard" in settings.get("tool", {}), (
            f"{block.where}: a toml block holds [tool.gqlguard] settings (the only kind this test checks)"
        )
        folder = self.state / f"toml-{block.line}"
        folder.mkdir()
        (folder / "pyproject.toml").write_text(block.text, encoding="utf-8")
        done = self.python(
            ["-c", "from gqlguard import load_config; load_config('pyproject.toml')"], folder
        )
        assert done.returncode == 0, (
            f"{block.where}: load_config refused it:\n{done.stderr[-3000:]}"
        )


@pytest.fixture(scope="module")
def readme_demo() -> Iterator[str]:
    """The demo the README's ``localhost:8000`` means, as ``make demo`` serves it."""
    with serve() as url:
        yield url.removeprefix("http://").removesuffix("/graphql")


@pytest.fixture(scope="module")
def readme_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.kill()


def copy_repository(target: Path) -> Path:
    """The repository's tracked files as they are in the working tree, and ``.venv``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return target
