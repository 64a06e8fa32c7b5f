"""Run a host's own test suite twice — as it is, and with gqlguard swapped in — and compare.

    python -m conformance.run graphql-core
    python -m conformance.run strawberry [off|defaults]

Strawberry's suite runs in a virtualenv of its own (``STRAWBERRY_PYTHON``, which ``make
conformance`` builds from conformance/strawberry-requirements.txt): its tests import names
that later Strawberry releases removed.

The suite is copied from ../shared/upstream (read-only there) to a scratch folder and run
with JUnit XML output, once plain (the baseline: the upstream tree is newer than the installed
release, so some tests fail without gqlguard too) and once with the plugin that swaps
gqlguard in. A test that passes in the baseline and fails with gqlguard is a new failure;
the run fails on any new failure not listed, with its reason, in the suite's by-design file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
# ../shared/upstream beside the checkout (as CI lays it out), or UPSTREAM_DIR.
UPSTREAM = Path(os.environ.get("UPSTREAM_DIR", PROJECT.parent / "shared" / "upstream"))
SUITES: dict[str, dict[str, Any]] = {
    "graphql-core": {
        "tests": UPSTREAM / "graphql-core" / "tests",
        "plugin": "conformance.graphql_core_plugin",
        "by_design": HERE / "graphql_core_by_design.txt",
        "options": [
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            "--timeout=100",
            "-o",
            "asyncio_mode=strict",
            "-o",
            "python_classes=PyTest*",
            "--benchmark-disable",
        ],
    },
    "strawberry": {
        "tests": UPSTREAM / "strawberry" / "tests",
        "plugin": "conformance.strawberry_plugin",
        "by_design": HERE / "strawberry_by_design.txt",
        "python": os.path.abspath(
            os.environ.get("STRAWBERRY_PYTHON", PROJECT / ".venv-strawberry/bin/python")
        ),
        # The groups issue 22 names; the integrations whose frameworks are not installed
        # (chalice, channels, litestar, quart, sanic) skip themselves.
        "paths": [
            "tests/http",
            "tests/websockets",
            "tests/asgi",
            "tests/fastapi",
            "tests/django",
            "tests/schema",
            "tests/extensions",
            "tests/views",
            "tests/file_uploads",
        ],
        "options": [
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            # Strawberry's WebSocket test clients can wait forever on a server that never
            # answers: a hang is a failure, in both runs.
            "--timeout=20",
            "-o",
            "timeout_method=signal",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-o",
            "DJANGO_SETTINGS_MODULE=tests.django.django_settings",
            "-W",
            "ignore::DeprecationWarning",
        ],
    },
}


def outcomes(report: Path) -> dict[str, bool]:
    """Test id -> passed, from a JUnit XML report."""
    results: dict[str, bool] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        if not skipped:
            results[test_id] = not failed
    return results


def by_design(path: Path) -> dict[str, str]:
    """Test id -> reason, from lines `test id  # reason` (blank lines and # lines skipped)."""
    listed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("  # ")
        listed[test_id.strip()] = reason.strip()
    return listed


def run(suite: str, scratch: Path, plugin: str | None) -> dict[str, bool]:
    spec = SUITES[suite]
    report = scratch / f"{'guarded' if plugin else 'baseline'}.xml"
    python = spec.get("python", sys.executable)
    command = [python, "-m", "pytest", *spec.get("paths", ["tests"]), "-q"]
    command += [f"--junitxml={report}"]
    command += ["--rootdir", str(scratch), "-c", str(scratch / "pytest.ini"), *spec["options"]]
    if plugin:
        command += ["-p", plugin]
    environment = {**os.environ, "PYTHONPATH": f"{PROJECT}{os.pathsep}{scratch}"}
    subprocess.run(
        command,
        cwd=scratch,
        env=environment,
        stdout=None if os.environ.get("CONFORMANCE_VERBOSE") else subprocess.DEVNULL,
        stderr=None if os.environ.get("CONFORMANCE_VERBOSE") else subprocess.DEVNULL,
        check=False,
    )
    return outcomes(report)


def main() -> int:
    suite = sys.argv[1] if len(sys.argv) > 1 else "graphql-core"
    spec = SUITES[suite]
    with tempfile.TemporaryDirectory(prefix=f"conformance-{suite}-") as folder:
        scratch = Path(folder)
        shutil.copytree(spec["tests"], scratch / "tests")
        (scratch / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        baseline = run(suite, scratch, None)
        guarded = run(suite, scratch, spec["plugin"])
        keep = os.environ.get("CONFORMANCE_KEEP")  # a folder for the two JUnit reports
        if keep:
            for report in scratch.glob("*.xml"):
                shutil.copy(report, Path(keep) / f"{suite}-{report.name}")
    listed = by_design(spec["by_design"])
    new = sorted(t for t, ok in guarded.items() if not ok and baseline.get(t, False))
    unexplained = [t for t in new if t not in listed]
    stale = sorted(t for t in listed if t not in new)
    print(
        f"{suite}: {len(baseline)} tests run; baseline failures "
        f"{sum(not ok for ok in baseline.values())}; new failures with gqlguard {len(new)} "
        f"({len(new) - len(unexplained)} by design)"
    )
    for test_id in new:
        reason = f"  ({listed[test_id]})" if test_id in listed else ""
        print(f"  {'by design' if test_id in listed else 'NEW'}: {test_id}{reason}")
    for test_id in stale:
        print(f"  listed but passing now (remove it from the list): {test_id}")
    if not baseline or len(guarded) < len(baseline) * 0.9:
        print("the guarded run collected far fewer tests than the baseline")
        return 1
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
