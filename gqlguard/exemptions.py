"""Exemptions: persisted operations the analysis limits measure but never refuse.

graphql-armor's ``allowList`` and Strawberry's ``should_ignore`` skip a limit for operations the
operator knows. Here an exemption names operations of the persisted-query manifest —
``exempt_operations`` by operation name, ``exempt_persisted_ids`` by id — and is held as the
sha256 of each one's text: a request is exempt when the document it runs *is* that text, however
it arrived (by id, by APQ, or sent in full), and whatever operation name the client claims. A
name alone would exempt anything a client chose to call by it.

An exempt document still passes the pre-parse limits (they bound the check's own work), the
work meter, validation, authorization and the budget; over an analysis limit it is served and
writes a ``measured`` event with ``"exempt": true``.

>>> Exemptions(frozenset()).covers("{ a }", None)
False
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLError, OperationDefinitionNode, parse

from .config import ConfigError, GuardConfig
from .manifest import Manifest, ManifestError, sha256_hex

__all__ = ["Exemptions"]


@dataclass(frozen=True)
class Exemptions:
    """The sha256 (hex) of every exempt document text."""

    documents: frozenset[str]

    @classmethod
    def from_config(cls, config: GuardConfig) -> Exemptions:
        """The manifest's operations that ``config`` exempts; a name or id the manifest does
        not hold is a :class:`ConfigError` (an exemption that exempts nothing is a typo)."""
        names, ids = config.exempt_operations, config.exempt_persisted_ids
        if not names and not ids:
            return cls(frozenset())
        path = config.persisted_manifest
        if path is None:  # the config's own validator says so first; kept for direct callers
            raise ConfigError("exemptions name operations of persisted_manifest, which is unset")
        try:
            manifest = Manifest.load(path)
        except ManifestError as error:
            raise ConfigError(str(error)) from None
        known_names = {operation.name for operation in manifest.operations}
        unknown = [f"exempt_operations {n!r}" for n in names if n not in known_names]
        unknown += [f"exempt_persisted_ids {i!r}" for i in ids if i not in manifest.by_id]
        if unknown:
            raise ConfigError(f"{', '.join(unknown)}: not in the manifest {path}")
        exempt = {op.id for name in names for op in manifest.operations if op.name == name}
        exempt |= set(ids)
        for operation in manifest.operations:
            if operation.id in exempt:
                _only_its_operation(operation.name, operation.body, path)
        return cls(frozenset(exempt))

    def covers(self, query: str, document_id: str | None) -> bool:
        """Whether this request's document is exempt (``document_id``: the verified sha256 of
        ``query``, when the persisted stage has one)."""
        if not self.documents:
            return False
        return (document_id if document_id is not None else sha256_hex(query)) in self.documents


def _only_its_operation(name: str, body: str, path: str) -> None:
    """An exempt text must hold exactly the one operation its entry names: a body with a
    second operation would exempt that one too (select it with ``operationName``)."""
    try:
        document = parse(body, no_location=True)
    except GraphQLError:
        raise ConfigError(f"exempt operation {name!r} in {path}: its body does not parse") from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None or operations[0].name.value != name:
        raise ConfigError(
            f"exempt operation {name!r} in {path}: its body must hold that one operation only"
        )
