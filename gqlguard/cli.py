"""Command line: ``gqlguard analyze``, ``gqlguard manifest build|check|push``, ``gqlguard token``.

``--schema`` takes an SDL file or ``package.module:attribute`` (a graphql-core or Strawberry
schema); it defaults to ``schema`` under ``[tool.gqlguard]`` in ./pyproject.toml.
Exit codes: 0 success, 1 the document was rejected, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, build_schema

from . import __version__, analyze
from .config import ConfigError, GuardConfig, load_config
from .directives import DIRECTIVES_SDL
from .guard import Guard, Verdict, graphql_schema_of
from .manifest import (
    Manifest,
    ManifestError,
    build_manifest,
    differences,
    operation_problems,
    read_document_map,
    read_operation_files,
)
from .parsing import GuardRejection
from .policies import Policies

__all__ = ["load_schema", "main"]


class UsageError(Exception):
    pass


def _default_schema_reference() -> str | None:
    pyproject = Path("pyproject.toml")
    if not pyproject.is_file():
        return None
    with pyproject.open("rb") as handle:
        reference = tomllib.load(handle).get("tool", {}).get("gqlguard", {}).get("schema")
    return reference if isinstance(reference, str) else None


def load_schema(reference: str | None) -> GraphQLSchema:
    """Load a schema from an SDL file or ``module:attribute``."""
    reference = reference or _default_schema_reference()
    if not reference:
        raise UsageError("no --schema given and no [tool.gqlguard] schema in pyproject.toml")
    path = Path(reference)
    if path.suffix in {".graphql", ".graphqls", ".gql", ".sdl"} or path.is_file():
        try:
            sdl = path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read schema file {reference}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"schema file {reference} is not UTF-8 text") from None
        # Declare the gqlguard directives that the SDL uses without declaring them itself.
        prelude = "\n".join(
            line
            for line in DIRECTIVES_SDL.strip().splitlines()
            if line.split("(")[0].split(" on ")[0] not in sdl
        )
        try:
            return build_schema(prelude + "\n" + sdl)
        except Exception as error:
            raise UsageError(f"invalid schema SDL: {error}") from None
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise UsageError("--schema must be an SDL file or package.module:attribute")
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")
    try:
        # Like uvicorn and gunicorn: `package.module:attr` is found from the current folder.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        target: Any = getattr(importlib.import_module(module_name), attribute)
        return graphql_schema_of(target)
    except (ImportError, AttributeError, TypeError) as error:
        raise UsageError(f"cannot load schema {reference}: {error}") from None


def _query_text(given: str) -> str:
    """``--query``: ``-`` reads standard input, an existing file is read, anything else is the
    document itself."""
    if given == "-":
        return sys.stdin.read()
    path = Path(given)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read query file {given}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"query file {given} is not UTF-8 text") from None
    if "{" not in given:
        raise UsageError(f"--query: no such file, and not a document: {given}")
    return given


def _guard(schema: GraphQLSchema, config: GuardConfig) -> Guard:
    """The server's checks, as a build step can run them: every limit and graphql-core's
    validation, enforced; readable messages that name the schema (the developer's own
    tool), no security events."""
    readable = {"mask_errors": False, "mode": "enforce", "expose_limits": True}
    return Guard(
        schema,
        config.model_copy(update=readable),
        reveal_schema_names=True,
        security_events=False,
        policies=Policies.unavailable(),  # document_only: no principal, no policy runs
    )


def _refusals(verdict: Verdict) -> list[str]:
    return [
        f"{error.code.value}: {error.message}"
        + (f" (measured {error.measured}, limit {error.limit})" if error.limit is not None else "")
        for error in verdict.errors
    ]


def _analyze_directory(schema: GraphQLSchema, args: argparse.Namespace, path: str) -> int:
    """Every operation of a persisted-queries folder, in the calibration report's table, and
    each one the server would refuse (exit 1 when any is)."""
    from .report import calibrate, text_report

    config = load_config(args.config) if args.config else load_config()
    guard = _guard(schema, config)
    manifest = build_manifest(read_operation_files(path))
    events = []
    refused = 0
    for operation in manifest.operations:
        verdict = guard.check(operation.body, None, operation.name, document_only=True)
        for line in _refusals(verdict):
            print(f"{operation.name}: {line}", file=sys.stderr)
        refused += not verdict.accepted
        if verdict.analysis is None:
            continue
        metrics = {
            key: value for key, value in verdict.analysis.as_dict().items() if key in _METRIC_KEYS
        }
        events.append({"operation": operation.name, "metrics": metrics})
    # The team's own operations: each one counts (no second client needed).
    print(text_report(calibrate(events, config, min_clients=1), config))
    return 1 if refused else 0


_METRIC_KEYS = frozenset(
    {"depth", "aliases", "directives", "fields", "tokens", "field_cost", "type_cost"}
)


def _report(args: argparse.Namespace) -> int:
    from .report import calibrate, html_report, read_measurements, text_report

    try:
        # A log holds what clients sent: bytes that are not UTF-8 are replaced, not fatal.
        raw = sys.stdin.buffer.read() if args.log == "-" else Path(args.log).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read log {args.log}: {error.strerror}") from None
    events, skipped = read_measurements(raw.decode("utf-8", errors="replace").splitlines())
    if not events:
        raise UsageError(f"no 'measured' events in {args.log}: run with mode='measure' first")
    config = load_config(args.config) if args.config else load_config()
    if args.min_clients < 1:
        raise UsageError("--min-clients must be at least 1")
    calibration = calibrate(events, config, min_clients=args.min_clients, skipped=skipped)
    if args.html:
        source = "standard input" if args.log == "-" else str(Path(args.log).resolve())
        page = html_report(calibration, config, source=source)
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {args.html}: {error.strerror}") from None
    print(text_report(calibration, config))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    given = args.query or args.document
    if not given:
        raise UsageError("give a document, a file or a folder (or --query)")
    schema = load_schema(args.schema)
    if Path(given).is_dir():
        return _analyze_directory(schema, args, given)
    query = _query_text(given)
    variables: Any = None
    if args.variables:
        try:
            variables = json.loads(args.variables)
        except ValueError:
            raise UsageError("--variables must be a JSON object") from None
        if not isinstance(variables, dict):
            raise UsageError("--variables must be a JSON object")
    config = load_config(args.config) if args.config else load_config()
    try:
        result = analyze(schema, query, variables, args.operation, config)
    except GuardRejection as rejection:
        report = rejection.error.formatted()
        print(json.dumps(report) if args.json else f"rejected: {report}")
        return 1
    # The server's verdict on it: every limit, graphql-core's validation (what the
    # measurements alone do not say).
    verdict = _guard(schema, config).check(query, variables, args.operation, document_only=True)
    data = result.as_dict()
    if args.json:
        data["verdict"] = {
            "accepted": verdict.accepted,
            "errors": [error.formatted() for error in verdict.errors],
        }
        print(json.dumps(data, sort_keys=True))
    else:
        for key, value in data.items():
            if key != "cost_breakdown":
                print(f"{key:>16}: {value}")
        for coordinate, cost in sorted(data["cost_breakdown"].items(), key=lambda kv: -kv[1]):
            print(f"{'':>16}  {coordinate}: {cost}")
        for line in _refusals(verdict) or ["accepted"]:
            print(f"{'verdict':>16}: {line}")
    return 0 if verdict.accepted else 1


def _token(args: argparse.Namespace) -> int:
    from .tokens import mint_token  # the `jwt` extra, only for this command

    config = load_config()
    secret = args.secret or (config.jwt_secret.get_secret_value() if config.jwt_secret else None)
    issuer = args.issuer or config.jwt_issuer
    audience = args.audience or config.jwt_audience
    if not secret or not issuer or not audience:
        raise UsageError("give --secret, --issuer and --audience (or GQLGUARD_JWT_*)")
    hmac = [a.upper() for a in config.jwt_algorithms or ("HS256",) if a.upper().startswith("HS")]
    if not hmac:
        raise UsageError(
            "the server verifies only "
            + ", ".join(config.jwt_algorithms or ())
            + ": gqlguard token mints HMAC (HS*) development tokens"
        )
    # The server's own rules for the secret (length per algorithm, RFC 7518 3.2; not blank):
    # a token the server would refuse is never minted.
    load_config(jwt_secret=secret, jwt_issuer=issuer, jwt_audience=audience)
    print(
        mint_token(
            secret,
            subject=args.sub,
            scopes=args.scope,
            issuer=issuer,
            audience=audience,
            ttl=args.ttl,
            scope_claim=config.jwt_scope_claim,
            algorithm=hmac[0],
        )
    )
    return 0


def _manifest_path(args: argparse.Namespace) -> Path:
    source = Path(args.directory)
    folder = source.parent if source.suffix == ".json" else source
    return Path(args.output or folder / "manifest.json")


def _built_and_checked(args: argparse.Namespace) -> tuple[Manifest, list[str]]:
    schema = load_schema(args.schema)
    config = load_config(args.config) if args.config else load_config()
    try:
        if Path(args.directory).suffix == ".json":  # Relay / GraphQL Code Generator maps
            manifest = read_document_map(args.directory)
        else:
            manifest = build_manifest(
                read_operation_files(args.directory),
                add_typename=config.manifest_add_typename
                and not getattr(args, "no_typename", False),
            )
    except ManifestError as error:
        raise UsageError(str(error)) from None
    return manifest, operation_problems(manifest, schema, config)


def _manifest_build(args: argparse.Namespace) -> int:
    manifest, problems = _built_and_checked(args)
    for problem in problems:
        print(f"refused: {problem}", file=sys.stderr)
    if problems:
        print("gqlguard: manifest not written", file=sys.stderr)
        return 1
    path = _manifest_path(args)
    text = manifest.to_json()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    print(f"{path}: {len(manifest.operations)} operations")
    return 0


def _manifest_check(args: argparse.Namespace) -> int:
    manifest, problems = _built_and_checked(args)
    path = _manifest_path(args)
    try:
        committed = Manifest.load(path)
    except ManifestError as error:
        problems.insert(0, str(error))
    else:
        changes = differences(committed, manifest)
        if not changes and path.read_bytes() != manifest.to_json().encode("utf-8"):
            # The bytes Apollo's generator writes, so the two can be diffed in review.
            changes.append("not byte for byte what gqlguard manifest build writes")
        if changes:
            problems.insert(
                0, f"{path} is stale ({', '.join(changes)}): run gqlguard manifest build"
            )
    for problem in problems:
        print(f"gqlguard: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: up to date, {len(manifest.operations)} operations within every limit")
    return 0


def _manifest_push(args: argparse.Namespace) -> int:
    import asyncio

    from .persisted import RedisStore
    from .redis_link import StoreUnavailable

    config = load_config(args.config) if args.config else load_config()
    try:
        manifest = Manifest.load(_manifest_path(args))
    except ManifestError as error:
        raise UsageError(str(error)) from None
    store = RedisStore(
        args.redis or config.redis_url, prefix=args.prefix or config.persisted_key_prefix
    )

    async def push() -> int:
        try:
            return await store.push(manifest)
        finally:
            await store.link.redis.aclose()

    try:
        count = asyncio.run(push())
    except StoreUnavailable:
        print("gqlguard: Redis is unreachable; the safelist was not changed", file=sys.stderr)
        return 1
    print(f"{store.safelist_key}: {count} operations")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gqlguard",
        description="gqlguard: check GraphQL operations against a schema and limits, build "
        "persisted-query manifests, calibrate limits from measured traffic.",
        epilog="Exit status: 0 success, 1 a document or operation was refused, 2 a usage or "
        "configuration error. --schema defaults to `schema` under [tool.gqlguard] in "
        "./pyproject.toml.",
    )
    parser.add_argument("--version", action="version", version=f"gqlguard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    analyze_parser = commands.add_parser(
        "analyze", help="the server's verdict on an operation (or a folder), with its metrics"
    )
    analyze_parser.add_argument("--schema", help="SDL file or package.module:attribute")
    analyze_parser.add_argument(
        "document",
        nargs="?",
        help="the document: a file, a folder of operations, inline text, or - for standard input",
    )
    analyze_parser.add_argument("--query", help="the same, as an option")
    analyze_parser.add_argument("--variables", help="variables as a JSON object")
    analyze_parser.add_argument("--operation", help="operation name")
    analyze_parser.add_argument("--config", help="TOML file with [tool.gqlguard] settings")
    analyze_parser.add_argument("--json", action="store_true", help="print one JSON object")
    analyze_parser.set_defaults(run=_analyze)
    token_parser = commands.add_parser("token", help="mint an HS256 development token")
    token_parser.add_argument("--sub", required=True, help="the subject (user id)")
    token_parser.add_argument("--scope", default="", help='space-separated, e.g. "users:email"')
    token_parser.add_argument("--secret", help="HS256 secret (default GQLGUARD_JWT_SECRET)")
    token_parser.add_argument("--issuer", help="default GQLGUARD_JWT_ISSUER")
    token_parser.add_argument("--audience", help="default GQLGUARD_JWT_AUDIENCE")
    token_parser.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token_parser.set_defaults(run=_token)
    report_parser = commands.add_parser(
        "report", help="calibrate limits from a security log written in measure mode"
    )
    report_parser.add_argument("log", help="log file with gqlguard.security lines, or -")
    report_parser.add_argument("--html", help="also write one self-contained HTML page here")
    report_parser.add_argument("--config", help="TOML file with [tool.gqlguard] settings")
    report_parser.add_argument(
        "--min-clients",
        type=int,
        default=2,
        help="clients that must have sent a value before it counts (default 2)",
    )
    report_parser.set_defaults(run=_report)
    manifest_parser = commands.add_parser("manifest", help="persisted-query manifests")
    manifest_commands = manifest_parser.add_subparsers(dest="manifest_command", required=True)
    for name, run, help_text in (
        ("build", _manifest_build, "write the manifest of every operation in DIRECTORY"),
        ("check", _manifest_check, "fail if the manifest is stale or an operation is refused"),
        ("push", _manifest_push, "load the manifest into Redis as the safelist"),
    ):
        sub = manifest_commands.add_parser(name, help=help_text)
        sub.add_argument(
            "directory",
            nargs="?",
            default="persisted_queries",
            help="folder of .graphql files, or a Relay / GraphQL Code Generator JSON map",
        )
        sub.add_argument("-o", "--output", help="manifest path (default DIRECTORY/manifest.json)")
        sub.add_argument("--config", help="TOML file with [tool.gqlguard] settings")
        if name == "push":
            sub.add_argument("--redis", help="Redis URL (default GQLGUARD_REDIS_URL / REDIS_URL)")
            sub.add_argument("--prefix", help="key prefix (default persisted_key_prefix)")
        else:
            sub.add_argument("--schema", help="SDL file or package.module:attribute")
            sub.add_argument(
                "--no-typename",
                action="store_true",
                help="bodies as written, for clients that do not add __typename (Relay, urql)",
            )
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except (UsageError, ConfigError, ManifestError) as error:
        print(f"gqlguard: {error}", file=sys.stderr)
        return 2
    except tomllib.TOMLDecodeError as error:
        print(f"gqlguard: pyproject.toml is not valid TOML: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # an extra this command needs (gqlguard.extras says which)
        print(f"gqlguard: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`gqlguard analyze … | head`): not an error, and no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
