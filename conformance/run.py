"""Run a host's own test suite twice — as it is, and with gqlguard swapped in — and compare.

    python -m conformance.run graphql-core
    python -m conformance.run strawberry [off] [defaults]

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
        "configurations": {"off": [], "defaults": [HERE / "strawberry_defaults_by_design.txt"]},
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


def run(
    suite: str, scratch: Path, plugin: str | None, configuration: str | None = None
) -> dict[str, bool]:
    spec = SUITES[suite]
    name = f"guarded-{configuration}" if configuration else "guarded"
    report = scratch / f"{name if plugin else 'baseline'}.xml"
    python = spec.get("python", sys.executable)
    command = [python, "-m", "pytest", *spec.get("paths", ["tests"]), "-q"]
    command += [f"--junitxml={report}"]
    command += ["--rootdir", str(scratch), "-c", str(scratch / "pytest.ini"), *spec["options"]]
    if plugin:
        command += ["-p", plugin]
    environment = {**os.environ, "PYTHONPATH": f"{PROJECT}{os.pathsep}{scratch}"}
    if configuration:
        environment["CONFORMANCE_CONFIG"] = configuration
    completed = subprocess.run(
        command,
        cwd=scratch,
        env=environment,
        stdout=None if os.environ.get("CONFORMANCE_VERBOSE") else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if not report.exists():  # pytest never ran a test (the plugin failed to load, ...)
        output = (completed.stdout or b"").decode(errors="replace")
        raise SystemExit(f"{suite} ({name}): pytest wrote no report:\n{output[-3000:]}")
    return outcomes(report)


def compare(
    suite: str,
    label: str,
    baseline: dict[str, bool],
    guarded: dict[str, bool],
    lists: list[Path],
) -> bool:
    """Print the comparison; True when every new failure is listed and every entry of the
    last list (the one this run owns) still fails."""
    listed: dict[str, str] = {}
    for path in lists:
        listed.update(by_design(path))
    owned = by_design(lists[-1])
    new = sorted(t for t, ok in guarded.items() if not ok and baseline.get(t, False))
    unexplained = [t for t in new if t not in listed]
    stale = sorted(t for t in owned if t not in new)
    print(
        f"{label}: {len(baseline)} tests run; baseline failures "
        f"{sum(not ok for ok in baseline.values())}; new failures with gqlguard {len(new)} "
        f"({len(new) - len(unexplained)} by design)"
    )
    for test_id in new:
        reason = f"  ({listed[test_id]})" if test_id in listed else ""
        print(f"  {'by design' if test_id in listed else 'NEW'}: {test_id}{reason}")
    for test_id in stale:
        print(f"  listed but passing now (remove it from {lists[-1].name}): {test_id}")
    if not baseline or len(guarded) < len(baseline) * 0.9:
        print("the guarded run collected far fewer tests than the baseline")
        return False
    return not unexplained and not stale


def main() -> int:
    suite = sys.argv[1] if len(sys.argv) > 1 else "graphql-core"
    spec = SUITES[suite]
    configurations: dict[str, list[Path]] = spec.get("configurations", {})
    chosen = sys.argv[2:] or list(configurations) or [""]
    unknown = [name for name in chosen if name not in configurations and name != ""]
    if unknown:
        print(f"{suite}: no configuration {unknown[0]!r} (known: {', '.join(configurations)})")
        return 2
    ok = True
    with tempfile.TemporaryDirectory(prefix=f"conformance-{suite}-") as folder:
        scratch = Path(folder)
        shutil.copytree(spec["tests"], scratch / "tests")
        (scratch / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        baseline = run(suite, scratch, None)
        for configuration in chosen:
            guarded = run(suite, scratch, spec["plugin"], configuration or None)
            label = f"{suite} ({configuration})" if configuration else suite
            lists = [spec["by_design"], *configurations.get(configuration, [])]
            ok = compare(suite, label, baseline, guarded, lists) and ok
        keep = os.environ.get("CONFORMANCE_KEEP")  # a folder for the JUnit reports
        if keep:
            for report in scratch.glob("*.xml"):
                shutil.copy(report, Path(keep) / f"{suite}-{report.name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
