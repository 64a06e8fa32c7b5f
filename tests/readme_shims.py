"""Stand-ins for the README's commands that cannot run as written inside a test, each doing the
closest thing that can (tests/test_readme.py puts ``make`` and ``pip`` wrappers on ``PATH`` that
run ``python readme_shims.py make|pip ARGS``):

- ``make demo`` serves until Ctrl-C: the demo is started the same way (the real target, with
  the line's environment and redirections) on ``$READMETEST_DEMO_PORT``, waited for until it
  answers, and left running (a demo started before is stopped first); the test stops it when
  the section ends.
- ``make test`` would run the whole suite, this test included: ``make -n test`` (the recipe
  is printed, not run).
- any other target runs for real (``make -s token ...``).
- every target runs with ``-o .venv/.installed``: the test's virtualenv is never reinstalled.
- ``pip install X`` installs into the test's virtualenv: ``pip install --dry-run --no-deps``
  instead (the requirement is resolved and the package built), and every extra it names must be
  one the package provides.

Configured by the environment: ``READMETEST_MAKE`` (the real make), ``READMETEST_STATE`` (a
directory for the demo's pid and log files and pip's reports), ``READMETEST_DEMO_PORT``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

STAMP = ".venv/.installed"


def make(arguments: list[str]) -> int:
    real = [os.environ["READMETEST_MAKE"], "-o", STAMP]
    targets = [a for a in arguments if not a.startswith("-") and "=" not in a]
    if "test" in targets:
        return subprocess.call([*real, "-n", *arguments])
    if "demo" in targets:
        return serve_demo([*real, *arguments])
    return subprocess.call([*real, *arguments])


def serve_demo(command: list[str]) -> int:
    state = Path(os.environ["READMETEST_STATE"])
    port = os.environ["READMETEST_DEMO_PORT"]
    stop_demos(state)  # a reader stops the one before (Ctrl-C) to start another
    outputs = []
    for stream, name in ((sys.stdout, "demo.out"), (sys.stderr, "demo.err")):
        # The block's own redirections are kept; a pipe (the test's capture) is replaced by a
        # file, or the test would wait for a server that never closes it.
        if stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode):
            outputs.append(open(state / name, "ab"))  # noqa: SIM115 - the server keeps it
        else:
            outputs.append(stream)
    process = subprocess.Popen(
        command,
        env={**os.environ, "PORT": port},
        stdout=outputs[0],
        stderr=outputs[1],
        start_new_session=True,
    )
    with open(state / "pids", "a") as pids:
        pids.write(f"{process.pid}\n")
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"make demo exited with {process.returncode}", file=sys.stderr)
            return 1
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return 0  # an answer (a GET without a query is a 400): the demo serves
        except OSError:
            time.sleep(0.1)
            continue
        return 0
    print(f"make demo did not answer on {url}", file=sys.stderr)
    return 1


def stop_demos(state: Path) -> None:
    """Stop every demo ``make demo`` started (its whole process group), and wait for it."""
    pids = state / "pids"
    if not pids.exists():
        return
    for pid in map(int, pids.read_text().split()):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with suppress(ProcessLookupError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
    pids.unlink()


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pip(arguments: list[str]) -> int:
    if not arguments or arguments[0] != "install":
        print(f"readme test: only `pip install` can run, not `pip {' '.join(arguments)}`")
        return 1
    state = Path(os.environ["READMETEST_STATE"])
    requirement = arguments[1] if len(arguments) == 2 else None
    # The same source with other extras is not built again: its metadata is the same.
    built = state / f"pip-{_source(requirement) if requirement else time.monotonic_ns()}.json"
    if not built.exists() or requirement is None:
        report = state / f"pip-{time.monotonic_ns()}.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet"]
        done = subprocess.call([*command, "--report", str(report), *arguments[1:]])
        if done != 0:
            return done
        report.replace(built)
    items = json.loads(built.read_text())["install"]
    for item in items:
        metadata = item["metadata"]
        provided = set(metadata.get("provides_extra", []))
        asked = set(item.get("requested_extras", []))
        if requirement is not None and len(items) == 1:
            asked = set(_extras(requirement))
        if asked - provided:
            print(
                f"{metadata['name']} has no extra {sorted(asked - provided)} (it has {sorted(provided)})"
            )
            return 1
        print(f"would install {metadata['name']} {metadata['version']} {sorted(asked)}")
    return 0


def _source(requirement: str) -> str:
    """A name for where a requirement comes from, its extras left out."""
    source = re.sub(r"\[[^\]]*\]", "", requirement.split(" @ ")[-1]).strip()
    return re.sub(r"[^\w.-]+", "_", source)


def _extras(requirement: str) -> list[str]:
    found = re.search(r"\[([^\]]*)\]", requirement)
    return [extra.strip() for extra in found.group(1).split(",")] if found else []


if __name__ == "__main__":
    tool, *rest = sys.argv[1:]
    sys.exit({"make": make, "pip": pip}[tool](rest))
