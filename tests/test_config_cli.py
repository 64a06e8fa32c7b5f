"""Configuration sources and the `gqlguard analyze` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gqlguard.cli import main
from gqlguard.config import GuardConfig, load_config


def test_environment_variables_set_every_kind_of_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_MAX_DEPTH", "5")
    monkeypatch.setenv("GQLGUARD_MASK_ERRORS", "false")
    monkeypatch.setenv("GQLGUARD_INTROSPECTION", "on")
    monkeypatch.setenv("GQLGUARD_COST_WEIGHTS", '{"Query.search": 10}')
    config = GuardConfig()
    assert (config.max_depth, config.mask_errors, config.introspection) == (5, False, "on")
    assert config.cost_weights == {"Query.search": 10}


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
