"""Configuration sources and the `gqlguard analyze` command."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gqlguard.cli import main
from gqlguard.config import ConfigError, GuardConfig, load_config


def test_environment_variables_set_every_kind_of_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_MAX_DEPTH", "5")
    monkeypatch.setenv("GQLGUARD_MASK_ERRORS", "false")
    monkeypatch.setenv("GQLGUARD_INTROSPECTION", "on")
    monkeypatch.setenv("GQLGUARD_COST_WEIGHTS", '{"Query.search": 10}')
    config = GuardConfig()
    assert (config.max_depth, config.mask_errors, config.introspection) == (5, False, "on")
    assert config.cost_weights == {"Query.search": 10}


def _list_settings() -> list[str]:
    return [
        name
        for name, field in GuardConfig.model_fields.items()
        if "tuple[str, ...]" in str(field.annotation)
    ]


@pytest.mark.parametrize("name", _list_settings())
def test_every_list_setting_reads_a_comma_list_from_the_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found from the model, so a list setting added later is held to it too
    # (websocket_origins was not: GQLGUARD_WEBSOCKET_ORIGINS raised "valid tuple").
    manifest = Path(__file__).parent.parent / "persisted_queries" / "manifest.json"
    operations = json.loads(manifest.read_text())["operations"]
    values = {
        "jwt_algorithms": ("HS256", "HS384"),
        "measure_limits": ("max_depth", "max_aliases"),
        "exempt_operations": (operations[0]["name"], operations[1]["name"]),
        "exempt_persisted_ids": (operations[0]["id"], operations[1]["id"]),
    }
    needs = {
        "jwt_algorithms": {"jwt_secret": "s" * 64, "jwt_issuer": "i", "jwt_audience": "a"},
        "exempt_operations": {"persisted_manifest": str(manifest)},
        "exempt_persisted_ids": {"persisted_manifest": str(manifest)},
    }
    expected = values.get(name, ("https://a.example", "https://b.example"))
    monkeypatch.setenv(f"GQLGUARD_{name.upper()}", ", ".join(expected))
    for setting, value in needs.get(name, {}).items():
        monkeypatch.setenv(f"GQLGUARD_{setting.upper()}", value)
    assert sorted(getattr(GuardConfig(), name)) == sorted(expected)


def test_invalid_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_MAX_DEPTH", "-1")
    with pytest.raises(ValueError):
        GuardConfig()


def test_toml_file_is_read_and_env_and_kwargs_override_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.gqlguard]\nmax_depth = 4\nmax_aliases = 3\nschema = 'x:y'\n")
    assert load_config(path).max_depth == 4
    monkeypatch.setenv("GQLGUARD_MAX_ALIASES", "9")
    config = load_config(path, max_depth=7)
    assert (config.max_depth, config.max_aliases) == (7, 9)


def test_cli_analyze_json_has_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.graphql"
    query.write_text("query($n: Int) { users(first: $n) { nodes { name } } }")
    code = main(
        [
            "analyze",
            "--schema",
            "schema_example.schema:schema",
            "--query",
            str(query),
            "--variables",
            '{"n": 3}',
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {
        "depth",
        "aliases",
        "directives",
        "fields",
        "root_fields",
        "tokens",
        "characters",
        "operations",
        "field_cost",
        "type_cost",
        "cost_breakdown",
    } <= set(data)
    assert (data["depth"], data["fields"], data["field_cost"]) == (3, 3, 2)


def test_cli_understands_cost_directives_in_sdl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text(
        "type User { name: String age: Int @cost(weight: 2.0) }\n"
        'type Query { users(max: Int): [User] @listSize(slicingArguments: ["max"]) }\n'
    )
    query = tmp_path / "q.graphql"
    query.write_text("{ users(max: 5) { age } }")
    assert main(["analyze", "--schema", str(schema), "--query", str(query), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["field_cost"] == 11


def test_cli_reports_bad_input_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.graphql"
    query.write_text("{ users(")
    assert (
        main(
            ["analyze", "--schema", "schema_example.schema:schema", "--query", str(query), "--json"]
        )
        == 1
    )
    assert json.loads(capsys.readouterr().out)["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert main(["analyze", "--schema", "no.such:thing", "--query", str(query)]) == 2


# -- configuration mistakes are loud, in one line (issue 17's configuration findings) ----------


# Both entry points: `GuardConfig()` (the README's examples) and `load_config()` (the CLI's).
ENTRY_POINTS = [pytest.param(GuardConfig, id="GuardConfig"), pytest.param(load_config, id="load")]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_mistyped_environment_variable_is_an_error_naming_the_setting(
    entry: Callable[..., GuardConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GQLGUARD_MAX_DEPHT", "3")
    with pytest.raises(ConfigError) as refused:
        entry()
    assert str(refused.value) == (
        "unknown environment variable GQLGUARD_MAX_DEPHT (did you mean GQLGUARD_MAX_DEPTH?)"
    )


def test_a_mistyped_toml_key_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.gqlguard]\nmax_dpeth = 3\nschema = 'x:y'\n")
    with pytest.raises(ConfigError, match="unknown key 'max_dpeth' \\(did you mean 'max_depth'"):
        load_config(path)


def test_off_turns_an_optional_limit_off_in_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gqlguard.toml"
    path.write_text('max_aliases = "off"\n')
    monkeypatch.setenv("GQLGUARD_MAX_DEPTH", "OFF")
    config = load_config(path)
    assert (config.max_depth, config.max_aliases) == (None, None)
    assert config.max_cost == 1000  # the others keep their defaults


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("GQLGUARD_MAX_DEPTH", "abc", "GQLGUARD_MAX_DEPTH='abc': Input should be a valid integer"),
        ("GQLGUARD_COST_WEIGHTS", "{bad", "GQLGUARD_COST_WEIGHTS='{bad': expected a JSON object"),
        ("GQLGUARD_INTROSPECTION", "maybe", "GQLGUARD_INTROSPECTION='maybe': Input should be"),
    ],
)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_bad_value_is_one_line_naming_the_variable_and_what_is_expected(
    entry: Callable[..., GuardConfig],
    variable: str,
    value: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        entry()
    assert str(refused.value).startswith(expected)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_both_entry_points_read_the_same_sources_in_the_same_order(
    entry: Callable[..., GuardConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.gqlguard]\nmax_depth = 4\nmax_aliases = 3\nmax_tokens = 900\nschema = 'x:y'\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GQLGUARD_MAX_ALIASES", "9")
    config = entry(max_tokens=800)
    # ./pyproject.toml, then the environment, then the keywords
    assert (config.max_depth, config.max_aliases, config.max_tokens) == (4, 9, 800)
    assert config == (load_config if entry is GuardConfig else GuardConfig)(max_tokens=800)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_mistakes_in_the_file_and_the_keywords_are_one_line_at_either_entry_point(
    entry: Callable[..., GuardConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"^unknown setting 'max_dept' \(did you mean 'max_depth'"
    ):
        entry(max_dept=5)
    with pytest.raises(ConfigError, match=r"^max_depth=-1: Input should be greater than"):
        entry(max_depth=-1)
    (tmp_path / "pyproject.toml").write_text("[tool.gqlguard]\nmax_aliasses = 3\n")
    with pytest.raises(ConfigError, match="unknown key 'max_aliasses'"):
        entry()
    (tmp_path / "pyproject.toml").write_text("[tool.gqlguard]\nmax_depth = 'deep'\n")
    with pytest.raises(
        ConfigError, match=r"^\[tool.gqlguard\] max_depth = 'deep': Input should be"
    ):
        entry()
    (tmp_path / "pyproject.toml").write_text("[tool.gqlguard\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        entry()


def test_list_settings_accept_commas_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
    assert GuardConfig().trusted_proxies == ("10.0.0.1", "10.0.0.2")
    monkeypatch.setenv("GQLGUARD_TRUSTED_PROXIES", '["10.0.0.3"]')
    assert GuardConfig().trusted_proxies == ("10.0.0.3",)


def test_a_safelist_without_a_manifest_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="persisted_manifest"):
        GuardConfig(persisted_mode="safelist")


def test_the_demo_takes_a_secret_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from schema_example.config import DEMO_JWT_ISSUER, demo_config

    monkeypatch.setenv("GQLGUARD_JWT_SECRET", "s" * 40)
    config = demo_config()
    assert config.jwt_secret is not None and config.jwt_secret.get_secret_value() == "s" * 40
    assert config.jwt_issuer == DEMO_JWT_ISSUER


@pytest.mark.parametrize(
    "command", [["-m", "schema_example"], ["-m", "gqlguard.cli", "analyze", "--query", "-"]]
)
def test_a_configuration_mistake_is_one_line_and_exit_code_2(command: list[str]) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "GQLGUARD_MAX_DEPTH": "abc", "PORT": "1"}
    run = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        input="{ a }",
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "GQLGUARD_MAX_DEPTH='abc'" in run.stderr
    assert "gqlguard demo on" not in run.stdout  # no banner before the refusal


def test_an_app_logs_one_line_summarising_its_protections(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from gqlguard.starlette import create_app
    from schema_example.schema import build_schema

    caplog.set_level(logging.INFO, logger="gqlguard")
    config = GuardConfig(max_depth=None)
    create_app(build_schema(config), config)
    lines = [r.getMessage() for r in caplog.records if r.name == "gqlguard"]
    assert len(lines) == 1
    assert "depth=off" in lines[0] and "cost=1000" in lines[0] and "csrf=on" in lines[0]


def test_the_protections_line_appears_without_any_logging_configuration() -> None:
    program = (
        "from gqlguard import GuardConfig\n"
        "from gqlguard.starlette import create_app\n"
        "from schema_example.schema import build_schema\n"
        "config = GuardConfig(max_depth=7)\n"
        "create_app(build_schema(config), config)\n"
    )
    ran = run_python(program)
    assert ran.returncode == 0
    lines = [line for line in ran.stderr.splitlines() if line.startswith("gqlguard: mode=")]
    assert len(lines) == 1 and "depth=7" in lines[0]


@pytest.mark.slow
def test_guard_config_type_checks_without_the_pydantic_plugin(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    module = tmp_path / "uses_config.py"
    module.write_text("from gqlguard import GuardConfig\n\nconfig = GuardConfig(max_depth=8)\n")
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", os.devnull, str(module)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(root)},
        cwd=tmp_path,
        timeout=300,
    )
    assert "uses_config.py" not in run.stdout, run.stdout[-2000:]


# -- the CLI (issue 17's CLI findings) ----------------------------------------------------------


def test_analyze_takes_inline_text_and_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    schema = "schema_example.schema:schema"
    assert (
        main(["analyze", "--schema", schema, "--query", "{ posts(limit: 2) { title } }", "--json"])
        == 0
    )
    inline = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("sys.stdin", io.StringIO("{ posts(limit: 2) { title } }"))
    assert main(["analyze", "--schema", schema, "--query", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == inline
    assert inline["depth"] == 2
    assert main(["analyze", "--schema", schema, "--query", "no-such-file.graphql"]) == 2


def test_analyze_into_a_closed_pipe_ends_quietly() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gqlguard.cli",
            "analyze",
            "--query",
            "{ posts(limit: 2) { title } }",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_manifest_build_names_the_developers_own_types_and_logs_no_security_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.graphql").write_text("query Bad { posts(limit: 1) { titl } }\n")
    status = main(["manifest", "build", str(tmp_path), "--schema", "schema_example.schema:schema"])
    err = capsys.readouterr().err
    assert status != 0
    assert "on type 'Post'" in err and "<hidden>" not in err
    assert '"event"' not in err  # no security-log JSON for a build


def test_the_demo_on_a_busy_port_is_one_line_without_a_banner() -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "schema_example"],
            capture_output=True,
            text=True,
            env={**os.environ, "PORT": str(port)},
            cwd=Path(__file__).resolve().parent.parent,
            timeout=60,
        )
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "gqlguard demo on" not in run.stdout and "Traceback" not in run.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from gqlguard import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"gqlguard {__version__}"


def test_token_refuses_a_secret_the_server_would_refuse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = ["token", "--sub", "1", "--issuer", "i", "--audience", "a", "--secret"]
    assert main([*command, "short"]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err
    assert main([*command, "s" * 32]) == 0
    assert capsys.readouterr().out.count(".") == 2  # a JWT


def test_token_signs_with_the_servers_algorithm_and_its_secret_rules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gqlguard.tokens import JWTAuthenticator

    monkeypatch.setenv("GQLGUARD_JWT_ALGORITHMS", "HS512")
    command = ["token", "--sub", "7", "--issuer", "i", "--audience", "a", "--secret"]
    assert main([*command, "s" * 32]) == 2  # HS512 needs 64 bytes, as the server says
    assert "at least 64 bytes" in capsys.readouterr().err
    assert main([*command, "s" * 64]) == 0
    minted = capsys.readouterr().out.strip()
    server = JWTAuthenticator(GuardConfig(jwt_secret="s" * 64, jwt_issuer="i", jwt_audience="a"))
    assert server.principal(f"Bearer {minted}").subject == "7"
    monkeypatch.setenv("GQLGUARD_JWT_ALGORITHMS", "RS256")
    assert main([*command, "s" * 64]) == 2
    assert "mints HMAC (HS*) development tokens" in capsys.readouterr().err


def test_a_malformed_pyproject_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.gqlguard\nx = 1\n")
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "--query", "{ a }"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gqlguard: pyproject.toml is not valid TOML")
    assert "Traceback" not in error


def run_python(program: str) -> subprocess.CompletedProcess[str]:
    """``program`` in a fresh interpreter (this one's), its output captured."""
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("blocked", "arguments", "extra"),
    [
        (
            ["jwt"],
            ["token", "--sub", "1", "--secret", "s" * 32, "--issuer", "i", "--audience", "a"],
            "jwt",
        ),
        (["redis", "redis.asyncio"], ["manifest", "push", "persisted_queries"], "redis"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    blocked: list[str], arguments: list[str], extra: str
) -> None:
    program = (
        "import sys\n"
        + "".join(f"sys.modules[{module!r}] = None\n" for module in blocked)
        + "from gqlguard.cli import main\n"
        + f"raise SystemExit(main({arguments!r}))"
    )
    ran = run_python(program)
    assert ran.returncode == 2
    assert f"pip install 'gqlguard[{extra}]'" in ran.stderr and "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    "command", [[], ["analyze"], ["token"], ["report"], ["manifest"], ["manifest", "build"]]
)
def test_help_is_plain_text(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: gqlguard")
    for markup in ("``", ":class:", ":func:", ":mod:", ".. "):
        assert markup not in shown


DEEP = "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("{ posts(limit: 2) { title } }", None),
        ("{ posts { titel } }", "GRAPHQL_VALIDATION_FAILED"),
        (DEEP, "DEPTH_LIMIT_EXCEEDED"),
    ],
)
def test_analyze_gives_the_servers_verdict(
    document: str, code: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(["analyze", "--schema", "schema_example.schema:schema", document, "--json"])
    captured = capsys.readouterr()
    verdict = json.loads(captured.out)["verdict"]
    assert exit_code == (0 if code is None else 1)
    assert verdict["accepted"] is (code is None)
    if code is not None:
        assert verdict["errors"][0]["extensions"]["code"] == code
    assert "development secret" not in captured.err  # the demo's notice is the demo's


def test_analyze_takes_a_folder_and_fails_on_any_refused_operation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = ["--schema", "schema_example.schema:schema"]
    assert main(["analyze", *schema, "persisted_queries"]) == 0
    (tmp_path / "ok.graphql").write_text("query Ok { posts(limit: 1) { title } }")
    (tmp_path / "deep.graphql").write_text("query Deep " + DEEP)
    capsys.readouterr()
    assert main(["analyze", *schema, str(tmp_path)]) == 1
    assert "Deep: DEPTH_LIMIT_EXCEEDED" in capsys.readouterr().err


DEEP_AND_DEAR = (
    "{ posts(limit: 100) {" + " author { posts(limit: 100) {" * 6 + " title" + " } }" * 6 + " } }"
)


def test_one_limit_at_a_time_measure_limits(caplog: pytest.LogCaptureFixture) -> None:
    from gqlguard import Guard
    from schema_example.schema import DEMO_POLICIES
    from schema_example.schema import build_schema as build_demo_schema

    schema = build_demo_schema(GuardConfig(), guarded=False)
    rolling = GuardConfig(measure_limits=("max_depth", "max_cost"), authorization_mode="dry_run")
    guard = Guard(schema, rolling, policies=DEMO_POLICIES)
    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        verdict = guard.check(DEEP_AND_DEAR)
    assert verdict.accepted  # over max_depth and max_cost: measured, not refused
    messages = (r.getMessage() for r in caplog.records)
    event = json.loads(next(m for m in messages if '"measured"' in m))
    assert set(event["codes"]) == {"DEPTH_LIMIT_EXCEEDED", "COST_ESTIMATED_TOO_EXPENSIVE"}
    assert event["metrics"]["depth"] == 14  # measured whole: the walk did not stop early
    aliases = "{ " + " ".join(f"a{i}: posts(limit: 1) {{ title }}" for i in range(20)) + " }"
    assert [e.code.value for e in guard.check(aliases).errors] == ["ALIAS_LIMIT_EXCEEDED"]


def test_a_measured_limit_must_be_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_MEASURE_LIMITS", "max_depth,max_cots")
    with pytest.raises(ConfigError, match="max_cots"):
        load_config()
    monkeypatch.setenv("GQLGUARD_MEASURE_LIMITS", "max_depth, max_cost")
    assert load_config().measure_limits == ("max_depth", "max_cost")


def test_several_limits_over_are_each_one_error_in_the_tables_order() -> None:
    from gqlguard import Guard
    from schema_example.schema import DEMO_POLICIES
    from schema_example.schema import build_schema as build_demo_schema

    guard = Guard(
        build_demo_schema(GuardConfig(), guarded=False),
        GuardConfig(max_depth=2, max_aliases=1, max_cost=10, authorization_mode="dry_run"),
        policies=DEMO_POLICIES,
    )
    text = "{ a: posts(limit: 50) { author { name } } b: posts(limit: 50) { title } }"
    codes = [error.code.value for error in guard.check(text).errors]
    assert codes == [
        "DEPTH_LIMIT_EXCEEDED",
        "ALIAS_LIMIT_EXCEEDED",
        "COST_ESTIMATED_TOO_EXPENSIVE",
    ]
    too_long = Guard(
        build_demo_schema(GuardConfig(), guarded=False),
        GuardConfig(max_characters=20, max_depth=2),
        policies=DEMO_POLICIES,
    )
    assert [e.code.value for e in too_long.check(text).errors] == ["CHARACTER_LIMIT_EXCEEDED"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_boolean_is_not_a_number_and_a_limit_of_nothing_is_refused(
    entry: Callable[..., GuardConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="expected a number, not a boolean"):
        entry(max_depth=True)
    (tmp_path / "pyproject.toml").write_text("[tool.gqlguard]\nmax_cost = true\n")
    with pytest.raises(ConfigError, match=r"\[tool.gqlguard\] max_cost = True: expected a number"):
        entry()
    (tmp_path / "pyproject.toml").unlink()
    for limit in ("max_depth", "max_fields", "max_tokens", "max_operations"):
        with pytest.raises(ConfigError, match=f"^{limit}=0: Input should be greater than"):
            entry(**{limit: 0})
    assert entry(max_aliases=0, max_directives=0).max_aliases == 0  # none allowed: a choice


@pytest.mark.parametrize(
    "arguments",
    [
        ["analyze", "--schema", "schema_example.schema:schema", "--query", "BAD"],
        ["analyze", "--schema", "BAD", "--query", "{ posts { title } }"],
        ["analyze", "--schema", "schema_example.schema:schema", "EMPTY"],
    ],
)
def test_analyze_bad_files_are_one_line_and_exit_2(
    arguments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.graphql"
    bad.write_bytes(b"{ posts { title } } \xff\xfe")
    (tmp_path / "empty").mkdir()
    paths = {"BAD": str(bad), "EMPTY": str(tmp_path / "empty")}
    assert main([paths.get(argument, argument) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gqlguard: ") and error.count("\n") == 1
