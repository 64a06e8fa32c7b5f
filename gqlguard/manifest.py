"""Persisted-query manifests: built at CI time from ``.graphql`` files, loaded by servers.

The format is Apollo's persisted-query manifest::

    {"format": "apollo-persisted-query-manifest", "version": 1,
     "operations": [{"id": "<sha256 hex of body>", "name": "Feed", "type": "query",
                     "body": "query Feed { ... }\\n\\nfragment P on Post { ... }"}]}

Each operation's ``body`` is the operation printed by graphql-core followed by every fragment
it uses (transitively), fragments sorted by name — the order Apollo's manifest generator
uses (operations first, then fragments, each by name) — so an id is reproducible from the
operation text alone. Operations are listed by name, so the file diffs cleanly; the file's
bytes are the generator's own (two-space JSON, no newline at the end).

>>> manifest = build_manifest({"a.graphql": "query A { a ...F } fragment F on Query { b }"})
>>> [(op.name, op.type) for op in manifest.operations]
[('A', 'query')]
>>> print(manifest.operations[0].body)
query A {
  a
  ...F
}
<BLANKLINE>
fragment F on Query {
  b
  __typename
}

Bodies carry ``__typename`` as Apollo Client 4 adds it (see :func:`build_manifest`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor

__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "ManifestError",
    "PersistedOperation",
    "build_manifest",
    "read_document_map",
    "read_operation_files",
    "sha256_hex",
]

MANIFEST_FORMAT = "apollo-persisted-query-manifest"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ManifestError(Exception):
    """A manifest or its operation files are unusable; the message says where and why."""


def sha256_hex(text: str) -> str:
    """Lowercase hex sha256 of ``text`` as UTF-8 (lone surrogates cannot match any id)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class PersistedOperation:
    id: str
    name: str
    type: str
    body: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "type": self.type, "body": self.body}


@dataclass(frozen=True)
class Manifest:
    """An immutable safelist: operations by id, every id verified against its body."""

    operations: tuple[PersistedOperation, ...]
    by_id: Mapping[str, PersistedOperation] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", MappingProxyType({op.id: op for op in self.operations}))

    def to_json(self) -> str:
        document = {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "operations": [op.as_json() for op in self.operations],
        }
        # Apollo's generator writes ``JSON.stringify(manifest, null, 2)``: the same separators
        # and escapes as this, non-ASCII kept, and no newline at the end.
        return json.dumps(document, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "manifest") -> Manifest:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ManifestError(f"{source}: not JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{source}: format is not {MANIFEST_FORMAT!r}")
        if document.get("version") != 1:
            raise ManifestError(f"{source}: only version 1 is supported")
        entries = document.get("operations")
        if not isinstance(entries, list):
            raise ManifestError(f"{source}: operations must be a list")
        operations = []
        for index, entry in enumerate(entries):
            operations.append(_operation_from_json(entry, f"{source}: operations[{index}]"))
        return cls(tuple(operations))

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"cannot read manifest {path}: {error}") from None
        return cls.from_json(text, source=str(path))


def _operation_from_json(entry: Any, where: str) -> PersistedOperation:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: not an object")
    values = {key: entry.get(key) for key in ("id", "name", "type", "body")}
    if not all(isinstance(value, str) for value in values.values()):
        raise ManifestError(f"{where}: id, name, type and body must be strings")
    operation = PersistedOperation(**values)  # type: ignore[arg-type]
    # A manifest whose id does not hash its body would let one id run another document.
    if not SHA256_HEX.fullmatch(operation.id) or sha256_hex(operation.body) != operation.id:
        raise ManifestError(f"{where} ({operation.name}): id is not the sha256 of its body")
    return operation


def read_operation_files(directory: str | Path) -> dict[str, str]:
    """``*.graphql`` files under ``directory`` (recursively), by path, in a stable order."""
    root = Path(directory)
    if not root.is_dir():
        raise ManifestError(f"{directory} is not a directory")
    files = {}
    for path in sorted(root.rglob("*.graphql")):
        try:
            files[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"cannot read {path}: {error}") from None
    if not files:
        raise ManifestError(f"no .graphql files in {directory}")
    return files


def read_document_map(path: str | Path) -> Manifest:
    """A persisted-document map other clients' tools emit — Relay's ``persisted-queries.json``
    or GraphQL Code Generator's client-preset ``persisted-documents.json``: ``{id: text}`` —
    as a manifest. Each body is the text exactly as the client sends it (its id is the sha256
    of that text); a key that is a sha256 must be that one. Relay must hash with SHA-256
    (``persistConfig.algorithm``): its default MD5 ids cannot be verified against a body.

    >>> import tempfile, pathlib
    >>> text = "query A { a }"
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "persisted-documents.json").write_text(json.dumps({sha256_hex(text): text}))
    >>> manifest = read_document_map(folder / "persisted-documents.json")
    >>> [(op.name, op.body) for op in manifest.operations]
    [('A', 'query A { a }')]
    """
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ManifestError(f"cannot read {path}: {error}") from None
    if not isinstance(entries, dict) or not all(
        isinstance(key, str) and isinstance(text, str) for key, text in entries.items()
    ):
        raise ManifestError(f"{path}: expected a JSON object of id -> document text")
    operations = []
    for key, text in entries.items():
        digest = sha256_hex(text)
        if SHA256_HEX.fullmatch(key) and key != digest:
            raise ManifestError(f"{path}: {key} is not the sha256 of its document")
        try:
            document = parse(text)
        except GraphQLError as error:
            raise ManifestError(f"{path}: {key}: {error.message}") from None
        named = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(named) != 1 or named[0].name is None:
            raise ManifestError(f"{path}: {key}: one named operation per document")
        operation = named[0]
        assert operation.name is not None
        operations.append(
            PersistedOperation(digest, operation.name.value, operation.operation.value, text)
        )
    return Manifest(tuple(sorted(operations, key=lambda op: (op.name, op.id))))


def build_manifest(sources: Mapping[str, str], *, add_typename: bool = True) -> Manifest:
    """The manifest of every operation in ``sources`` (file name -> GraphQL text).

    ``add_typename`` (default) applies Apollo Client's document transform — ``__typename`` at
    the end of every selection set below the operation's root, unless it selects one (or an
    introspection field) already, or its field is ``@export``-ed — so bodies and ids are what
    Apollo's manifest generator produces for Apollo Client 4, whose cache needs them. Turn it
    off for clients that send documents untransformed (Relay, urql, plain fetch).

    Clear errors for what a manifest cannot hold: syntax errors, anonymous or duplicate
    operations, duplicate or unknown fragments, type-system definitions.
    """
    operations: dict[str, tuple[OperationDefinitionNode, str]] = {}
    fragments: dict[str, tuple[FragmentDefinitionNode, str]] = {}
    for source, text in sources.items():
        try:
            document = parse(text)
        except GraphQLError as error:
            where = (
                f":{error.locations[0].line}:{error.locations[0].column}" if error.locations else ""
            )
            raise ManifestError(f"{source}{where}: {error.message}") from None
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    raise ManifestError(
                        f"{source}: anonymous operation; every operation needs a name"
                    )
                name = definition.name.value
                if name in operations:
                    raise ManifestError(
                        f"{source}: operation {name} is also defined in {operations[name][1]}"
                    )
                operations[name] = (definition, source)
            elif isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in fragments:
                    raise ManifestError(
                        f"{source}: fragment {name} is also defined in {fragments[name][1]}"
                    )
                fragments[name] = (definition, source)
            else:
                raise ManifestError(f"{source}: only operations and fragments belong here")
    if not operations:
        raise ManifestError("no operations found")
    built = []
    for name in sorted(operations):
        operation, source = operations[name]
        used = _fragments_used(
            operation, {key: value[0] for key, value in fragments.items()}, source
        )
        document = DocumentNode(definitions=(operation, *(used[key] for key in sorted(used))))
        if add_typename:
            document = with_typename(document)
        body = print_ast(document)
        built.append(PersistedOperation(sha256_hex(body), name, operation.operation.value, body))
    return Manifest(tuple(built))


_TYPENAME = FieldNode(name=NameNode(value="__typename"))


def with_typename(document: DocumentNode) -> DocumentNode:
    """Apollo Client's ``addTypenameToDocument`` (see :func:`build_manifest`).

    >>> from graphql import parse, print_ast
    >>> print(print_ast(with_typename(parse("{ a { b } }"))))
    {
      a {
        b
        __typename
      }
    }
    """

    class AddTypename(Visitor):
        def enter_selection_set(
            self, node: SelectionSetNode, _key: Any, parent: Any, *_: Any
        ) -> SelectionSetNode | None:
            if isinstance(parent, OperationDefinitionNode):
                return None
            if any(
                isinstance(selection, FieldNode) and selection.name.value.startswith("__")
                for selection in node.selections
            ):
                return None
            if isinstance(parent, FieldNode) and any(
                directive.name.value == "export" for directive in parent.directives or ()
            ):
                return None
            return SelectionSetNode(selections=(*node.selections, _TYPENAME), loc=node.loc)

    transformed: DocumentNode = visit(document, AddTypename())
    return transformed


def _fragments_used(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    source: str,
) -> dict[str, FragmentDefinitionNode]:
    used: dict[str, FragmentDefinitionNode] = {}
    pending: list[Any] = [operation]
    while pending:
        for name in _spread_names(pending.pop()):
            if name in used:
                continue
            fragment = fragments.get(name)
            if fragment is None:
                raise ManifestError(
                    f"{source}: operation {operation.name.value if operation.name else '?'} "
                    f"spreads unknown fragment {name}"
                )
            used[name] = fragment
            pending.append(fragment)
    return used


def _spread_names(node: Any) -> Iterable[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    return names


def operation_problems(manifest: Manifest, schema: Any, config: Any) -> list[str]:
    """Why each operation would be refused at runtime: schema validation and every limit,
    its variables at their defaults. Empty when every operation passes."""
    from .guard import Guard
    from .policies import Policies

    # Readable messages; introspection a scope could unlock is not a build failure.
    relaxed = {"mask_errors": False, "mode": "enforce", "expose_limits": True}
    if config.introspection == "scopes":
        relaxed["introspection"] = "on"
    # The developer's own build: every schema name shows, nothing goes to the security log.
    guard = Guard(
        schema,
        config.model_copy(update=relaxed),
        reveal_schema_names=True,
        security_events=False,
        policies=Policies.unavailable(),  # document_only: no request is authorized
    )
    problems = []
    for operation in manifest.operations:
        verdict = guard.check(operation.body, None, operation.name, document_only=True)
        for error in verdict.errors:
            measured = (
                f" (measured {error.measured}, limit {error.limit})"
                if error.measured is not None and error.limit is not None
                else ""
            )
            problems.append(f"{operation.name}: {error.code.value}: {error.message}{measured}")
    return problems


def differences(committed: Manifest, built: Manifest) -> list[str]:
    """What changed between the committed manifest and the one the files give now."""
    old = {op.name: op for op in committed.operations}
    new = {op.name: op for op in built.operations}
    changes = [f"added {name}" for name in sorted(new.keys() - old.keys())]
    changes += [f"removed {name}" for name in sorted(old.keys() - new.keys())]
    changes += [
        f"changed {name}"
        for name in sorted(old.keys() & new.keys())
        if old[name].as_json() != new[name].as_json()
    ]
    if not changes and committed.to_json() != built.to_json():
        changes.append("reordered or reformatted")
    return changes
