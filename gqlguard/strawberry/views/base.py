"""The two mixins behind gqlguard's Strawberry views (see :mod:`gqlguard.strawberry.views`):
Strawberry's view methods replaced so every HTTP request is run by gqlguard's pipeline.

- ``parse_http_body``: a JSON or GET request is left undecoded; the pipeline's transport stage
  reads it (its media type, body cap, strict JSON, envelope shape, batch cap: coded answers,
  never Strawberry's plain-text 400). A GraphQL multipart upload is decoded by Strawberry (its
  files), then goes through the same stages.
- ``execute_operation``: the request goes to :meth:`gqlguard.http.Pipeline.handle` with the
  view's part of it (a :class:`~gqlguard.http.Host`): Strawberry's context (``get_context``)
  and root value, Strawberry's ``schema.execute`` as the executor (the schema's
  ``GuardExtension`` receives the checked document and enforces per field), the principal the
  extension's hook finds in the context, Strawberry's batching rule. Status and headers go on
  the view's sub-response. Streamed answers (SSE, multipart subscriptions) and WebSockets
  stay with Strawberry's own handlers, where the extension checks each operation.
- ``process_result``: the pipeline's answer as it made it (request errors carry no ``data``).
- ``should_render_graphql_ide``: false for a GET that names a persisted query (APQ over GET).

Sync views (Django, Flask) run the pipeline on the extension's helper loop while the
request's own work — the check with the user's policies, the principal hook,
``schema.execute_sync`` — runs on the view's thread, where Django's ORM expects it.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from ...extras import missing

try:
    from graphql import GraphQLError, SourceLocation
    from graphql.execution import ExperimentalIncrementalExecutionResults
    from strawberry.exceptions import MissingQueryError
    from strawberry.http import GraphQLRequestData
    from strawberry.schema.exceptions import (
        CannotGetOperationTypeError,
        InvalidOperationTypeError,
    )
    from strawberry.types import ExecutionResult
    from strawberry.types.graphql import OperationType
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry.views") from error

from ...budget import RedisBudget
from ...config import ConfigError
from ...errors import ErrorCode, GuardError, GuardRejection
from ...events import security_event
from ...execution import Execute, Execution
from ...http import Host, Pipeline, RunHere
from ...masking import mask_execution_errors
from ...persisted import RedisStore
from ...transport import GuardRequest, GuardResponse
from ..context import answer_with
from ..executor import guard_extension_of, strawberry_batching
from ..extension import GuardExtension, checked_operation

__all__ = ["GuardedAsyncView", "GuardedSyncView", "PipelineAnswer"]

T = TypeVar("T")

_STREAMED = ("text/event-stream", "multipart/mixed")  # Strawberry's streaming transports
_MULTIPART = "multipart/form-data"


class _Undecoded(GraphQLRequestData):
    """A request left for the pipeline's transport stage to read."""

    def __init__(self) -> None:
        super().__init__(query=None, variables=None, operation_name=None, extensions=None)


@dataclass
class PipelineAnswer(ExecutionResult):
    """One answer as the pipeline made it: ``body`` is what the client receives (``data``,
    ``errors`` and ``extensions`` mirror it for a ``process_result`` that reads them)."""

    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, body: dict[str, Any]) -> PipelineAnswer:
        errors = [_error_of(error) for error in body.get("errors", ())]
        return cls(
            data=body.get("data"),
            errors=errors or None,
            extensions=body.get("extensions"),
            body=body,
        )


def _error_of(formatted: dict[str, Any]) -> GraphQLError:
    """A formatted error as a ``GraphQLError`` again (for a ``process_result`` that formats
    ``result.errors`` itself): message, locations, path, extensions."""
    error = GraphQLError(
        formatted.get("message", ""),
        path=formatted.get("path"),
        extensions=formatted.get("extensions"),
    )
    locations = formatted.get("locations")
    if locations:
        error.locations = [SourceLocation(at["line"], at["column"]) for at in locations]
    return error


class _ViewDoor:
    """What one view needs of the pipeline: built once per view, from its schema's
    ``GuardExtension``."""

    def __init__(self, schema: Any) -> None:
        extension = guard_extension_of(schema)
        if extension is None:
            raise ConfigError(
                "gqlguard's Strawberry views need a schema with GuardExtension in its "
                "extensions: strawberry.Schema(..., extensions=[GuardExtension(config)])"
            )
        self.extension: GuardExtension = extension
        self.schema = schema
        self.pipeline: Pipeline = extension.view_pipeline(schema)
        # A sync view's pipeline runs on its own thread when it waits on nothing: stores in
        # memory, synchronous policies (a Redis store needs the helper loop, where its client
        # lives).
        persisted = extension.persisted
        self.waits = (
            isinstance(extension.budget, RedisBudget)
            or (persisted is not None and isinstance(persisted.store, RedisStore))
            or bool(extension.policies.asynchronous)
        )
        self.batching, self.max_batch = strawberry_batching(schema)

    def host(
        self, context: Any, execute: Execute, payload: Any, run_here: RunHere | None = None
    ) -> Host:
        extension = self.extension

        def principal() -> Any:
            return extension.principal_of(context)

        return Host(
            execute=execute,
            context=context,
            principal=principal,
            payload=payload,
            **({"run_here": run_here} if run_here is not None else {}),
            batching=self.batching,
            max_batch=self.max_batch,
        )

    def allowed(self, view: Any, method: str, execution: Execution) -> frozenset[OperationType]:
        """What the transport allows, less what the view forbids (queries over GET)."""
        allowed = {OperationType(name) for name in execution.allowed_operations}
        if method == "GET" and not view.allow_queries_via_get:
            allowed.discard(OperationType.QUERY)
        return frozenset(allowed)

    def answer(self, response: GuardResponse, sub_response: Any) -> Any:
        """The pipeline's response on the view's sub-response (status, headers) and as the
        results Strawberry's ``run`` hands to ``process_result``."""
        answer_with({"response": sub_response}, _status(response), response.headers)
        body = response.body
        if isinstance(body, list):
            return [PipelineAnswer.of(item) for item in body]
        return PipelineAnswer.of(body)

    def masked_stream(
        self,
        result: ExperimentalIncrementalExecutionResults,
        execution: Execution,
        request_id: str | None,
    ) -> ExperimentalIncrementalExecutionResults:
        """``@defer``/``@stream`` payloads after the first, as the first was answered:
        denial placeholders become their coded errors, then masking."""
        config = self.extension.config
        enforcement = execution.enforcement

        def answered(errors: Any) -> Any:
            found = list(errors or ())
            if enforcement is not None and enforcement.adds_errors:
                found = enforcement.errors(found)
            if not found:
                return None
            return mask_execution_errors(found, config, request_id) or None

        async def masked() -> Any:
            async for payload in result.subsequent_results:
                for part in (*(payload.incremental or ()), *(payload.completed or ())):
                    part.errors = answered(part.errors)
                yield payload

        return result._replace(subsequent_results=masked())


def _guard_request(
    method: str,
    headers: Mapping[str, str],
    query_params: Mapping[str, Any],
    body: bytes | str,
    native: Any,
) -> GuardRequest:
    return GuardRequest(
        method.upper(),
        {name.lower(): value for name, value in headers.items()},
        urlencode(dict(query_params)) if method.upper() == "GET" else "",
        body.encode("utf-8") if isinstance(body, str) else body,
        _peer(native),
        native,
    )


def _peer(native: Any) -> str | None:
    """The client's address, in the framework's words."""
    client = getattr(native, "client", None)  # Starlette
    if client is not None and getattr(client, "host", None):
        return str(client.host)
    for name in ("remote", "remote_addr"):  # aiohttp, Flask
        value = getattr(native, name, None)
        if isinstance(value, str):
            return value
    meta = getattr(native, "META", None)  # Django
    if isinstance(meta, Mapping) and isinstance(meta.get("REMOTE_ADDR"), str):
        return str(meta["REMOTE_ADDR"])
    return None


class _Malformed:
    """A multipart body Strawberry could not decode: the transport stage refuses it (coded,
    after CSRF prevention), never Strawberry's plain text or a 500."""


_MALFORMED_UPLOAD = _Malformed()


def _decoded(request_data: Any) -> Any:
    """A body Strawberry decoded (a multipart upload), as the transport stage reads JSON."""
    if isinstance(request_data, _Malformed):
        return request_data
    if isinstance(request_data, list):
        return [_decoded(item) for item in request_data]
    payload: dict[str, Any] = {
        "query": request_data.query,
        "variables": request_data.variables,
        "operationName": request_data.operation_name,
    }
    if request_data.extensions is not None:
        payload["extensions"] = request_data.extensions
    return payload


def _streamed(view: Any, headers: Mapping[str, str]) -> bool:
    """Whether Strawberry answers this request with a stream (SSE, a multipart
    subscription), decided as Strawberry decides it, from the protocols the view serves: an
    Accept header naming a stream the view does not serve makes an ordinary request."""
    decide = getattr(view, "_get_stream_transport_from_headers", None)
    if decide is None:  # a Strawberry without HTTP streams: every request is the pipeline's
        return False
    return decide(headers) is not None


def _content_type(headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return value.split(";")[0].strip().lower()
    return ""


def _names_a_persisted_query(query_params: Mapping[str, Any]) -> bool:
    return query_params.get("query") is None and "persistedQuery" in str(
        query_params.get("extensions") or ""
    )


def _refusal(error: Exception, method: str) -> GuardRejection:
    if isinstance(error, InvalidOperationTypeError):
        if method == "GET":  # the view serves no queries over GET (allow_queries_via_get)
            return GuardRejection(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Send this operation with POST."),
                {"Allow": "POST"},
            )
        return GuardRejection(
            GuardError(ErrorCode.BAD_REQUEST, "This operation type is not served here.")
        )
    return GuardRejection(
        GuardError(ErrorCode.BAD_REQUEST, "The operation could not be determined.")
    )


def _executed(allowed: frozenset[OperationType], execution: Execution, root_value: Any) -> Any:
    """``schema.execute``'s (or ``execute_sync``'s) keywords for one checked operation."""
    return {
        "variable_values": execution.variables,
        "context_value": execution.context,
        "root_value": root_value,
        "operation_name": execution.operation_name,
        "allowed_operation_types": allowed,
        "operation_extensions": execution.extensions,
    }


@contextmanager
def _refused_by_strawberry(method: str) -> Iterator[None]:
    """Strawberry's own refusals of an operation, as the pipeline's coded ones."""
    try:
        yield
    except (InvalidOperationTypeError, MissingQueryError, CannotGetOperationTypeError) as refused:
        raise _refusal(refused, method) from None


def _async_body(native: Any, adapter: Any) -> Any:
    """The body as the transport stage reads it: chunk by chunk where the framework streams
    it (never past ``max_body_bytes``), else what the framework has read."""
    stream = getattr(native, "stream", None)  # Starlette
    if callable(stream):
        return stream
    content = getattr(native, "content", None)  # aiohttp
    if content is not None and callable(getattr(content, "iter_chunked", None)):
        return lambda: content.iter_chunked(65536)

    async def whole() -> Any:
        body = await adapter.get_body()
        yield body.encode("utf-8") if isinstance(body, str) else body

    return whole


def _sync_body(native: Any, headers: dict[str, str], cap: int) -> bytes:
    """The raw bytes (never decoded as text: a non-UTF-8 body is the transport's coded 400),
    unread when the declared length is over the cap; a body the framework refuses to read
    (Django's own upload cap) counts as over it."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return b""
    try:
        body = getattr(native, "body", None)  # Django
        if not isinstance(body, bytes):
            body = native.get_data()  # Flask
    except Exception:  # the framework's own limit (RequestDataTooBig)
        headers["content-length"] = str(cap + 1)
        return b""
    return body if isinstance(body, bytes) else bytes(body)


_DOORS: weakref.WeakKeyDictionary[Any, _ViewDoor] = weakref.WeakKeyDictionary()


def _door_for(schema: Any) -> _ViewDoor:
    """One door per schema (Django and Flask build a view per request); raises ConfigError
    for a schema without GuardExtension."""
    door = _DOORS.get(schema)
    if door is None:
        door = _DOORS.setdefault(schema, _ViewDoor(schema))
    return door


class _GuardedView:
    """What the async and sync views share."""

    schema: Any
    allow_queries_via_get: bool
    graphql_ide: Any
    _gqlguard_door: _ViewDoor | None = None

    @property
    def _door(self) -> _ViewDoor:
        door = self._gqlguard_door
        if door is None:
            door = self._gqlguard_door = _door_for(self.schema)
        return door

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        # Django and Flask build the view per request: a schema without GuardExtension must
        # stop the server here, at start, not answer each request with a 500.
        schema = kwargs.get("schema")
        if schema is not None:
            _door_for(schema)
        return super().as_view(*args, **kwargs)  # type: ignore[misc]

    def should_render_graphql_ide(self, request: Any) -> bool:
        # The IDE is a development page, as under create_app: only with `graphiql = true`
        # and Strawberry's own `graphql_ide`. A GET naming a persisted query by its hash
        # carries no `query`: it is APQ, not a browser asking for the IDE. Otherwise a GET
        # without a query is the pipeline's coded 400, not Strawberry's 404.
        return bool(
            self.graphql_ide
            and self._door.extension.config.graphiql
            and super().should_render_graphql_ide(request)  # type: ignore[misc]
            and not _names_a_persisted_query(request.query_params)
        )

    def _answered(self, result: Any) -> dict[str, Any] | None:
        return result.body if isinstance(result, PipelineAnswer) else None


class GuardedAsyncView(_GuardedView):
    """The mixin over Strawberry's ``AsyncBaseHTTPView`` subclasses (list it first)."""

    max_subscriptions_per_connection: int | None
    connection_init_wait_timeout: timedelta

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built now: a schema without GuardExtension stops the server at start.
        config = self._door.extension.config
        # The WebSocket caps are gqlguard's settings (as under create_app) unless the view
        # is given its own.
        if "max_subscriptions_per_connection" not in kwargs:
            self.max_subscriptions_per_connection = config.websocket_max_operations
        if "connection_init_wait_timeout" not in kwargs:
            self.connection_init_wait_timeout = timedelta(seconds=config.websocket_init_timeout)

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """Strawberry's rule (its ``allowed_origins``), or gqlguard's ``websocket_origins``
        (Strawberry calls this for a cross-origin handshake only)."""
        allowed = self._door.extension.origins.violation({"origin": origin}) is None
        return allowed or bool(
            super().is_websocket_origin_allowed(request, origin)  # type: ignore[misc]
        )

    async def reject_websocket(self, request: Any) -> Any:
        headers = getattr(request, "headers", {})
        security_event(
            "rejected",
            [ErrorCode.FORBIDDEN.value],
            {"request_id": None, "principal": None, "client": _peer(request)},
            origin=headers.get("origin") if hasattr(headers, "get") else None,
        )
        return await super().reject_websocket(request)  # type: ignore[misc]

    async def parse_http_body(self, request: Any) -> Any:
        multipart = _content_type(request.headers) == _MULTIPART
        if _streamed(self, request.headers) or (
            multipart and getattr(self, "multipart_uploads_enabled", False)
        ):
            try:
                return await super().parse_http_body(request)  # type: ignore[misc]
            except Exception:  # Strawberry's plain-text 400s, or a crash on odd parts
                return _MALFORMED_UPLOAD
        return _Undecoded()

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Any,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        door = self._door
        method = request_adapter.method.upper()
        if _streamed(self, request_adapter.headers):
            # SSE and multipart subscriptions: the request's own stages here (CSRF, the
            # token, the transport's caps), then Strawberry's stream handlers, the extension
            # checking the operation inside them, as over WebSockets.
            screened = await door.pipeline.screen(
                _guard_request(
                    method,
                    request_adapter.headers,
                    request_adapter.query_params,
                    await request_adapter.get_body() if method == "POST" else b"",
                    request,
                ),
                door.host(context, _never_executed, _NOT_GIVEN),
            )
            if screened is not None:
                return door.answer(screened, sub_response)
            if isinstance(request_data, _Malformed):  # read again by the screen: never
                raise RuntimeError("a malformed body passed the transport stage")
            return await super().execute_operation(  # type: ignore[misc]
                request=request,
                request_adapter=request_adapter,
                request_data=request_data,
                context=context,
                root_value=root_value,
                sub_response=sub_response,
            )
        streams: list[tuple[ExperimentalIncrementalExecutionResults, Execution]] = []
        schema = self.schema

        async def execute(execution: Execution) -> Any:
            with checked_operation(execution), _refused_by_strawberry(method):
                result = await schema.execute(
                    execution.query,
                    **_executed(door.allowed(self, method, execution), execution, root_value),
                )
            return _first_of(result, execution, streams)

        undecoded = isinstance(request_data, _Undecoded)
        body = _async_body(request, request_adapter) if undecoded and method == "POST" else b""
        guard_request = _guard_request(
            method, request_adapter.headers, request_adapter.query_params, body, request
        )
        payload = _NOT_GIVEN if undecoded else _decoded(request_data)
        host = door.host(context, execute, payload)
        response = await door.pipeline.handle(guard_request, host)
        if streams:
            answer_with({"response": sub_response}, _status(response), response.headers)
            result, execution = streams[0]
            return door.masked_stream(result, execution, response.headers.get("X-Request-ID"))
        return door.answer(response, sub_response)

    async def process_result(self, request: Any, result: Any) -> Any:
        answered = self._answered(result)
        if answered is not None:
            return answered
        return await super().process_result(request, result)  # type: ignore[misc]


class GuardedSyncView(_GuardedView):
    """The mixin over Strawberry's ``SyncBaseHTTPView`` subclasses (list it first)."""

    def execute_operation(
        self, request: Any, context: Any, root_value: Any, sub_response: Any
    ) -> Any:
        door = self._door
        adapter = self.request_adapter_class(request)  # type: ignore[attr-defined]
        method = adapter.method.upper()
        headers = {name.lower(): value for name, value in adapter.headers.items()}
        payload: Any = _NOT_GIVEN
        body = b""
        if _content_type(headers) == _MULTIPART and getattr(
            self, "multipart_uploads_enabled", False
        ):
            try:
                payload = _decoded(self.parse_http_body(adapter))  # type: ignore[attr-defined]
            except Exception:  # Strawberry's plain-text 400s, or a crash on odd parts
                payload = _MALFORMED_UPLOAD
        elif method == "POST":
            body = _sync_body(request, headers, door.extension.config.max_body_bytes)
        guard_request = _guard_request(method, headers, adapter.query_params, body, request)
        schema = self.schema
        helper = door.extension.helper

        def serve(run_here: RunHere) -> Awaitable[GuardResponse]:
            async def execute(execution: Execution) -> Any:
                def run() -> Any:
                    allowed = door.allowed(self, method, execution)
                    with checked_operation(execution), _refused_by_strawberry(method):
                        return schema.execute_sync(
                            execution.query, **_executed(allowed, execution, root_value)
                        )

                return await run_here(run)

            host = door.host(context, execute, payload, run_here)
            return door.pipeline.handle(guard_request, host)

        response = helper.drive(serve) if door.waits else helper.run_in_place(serve)
        return door.answer(response, sub_response)

    def process_result(self, request: Any, result: Any) -> Any:
        answered = self._answered(result)
        if answered is not None:
            return answered
        return super().process_result(request, result)  # type: ignore[misc]


async def _never_executed(execution: Execution) -> Any:  # pragma: no cover - screen only
    raise RuntimeError("a screened request is executed by Strawberry's stream handlers")


def _status(response: GuardResponse) -> int | None:
    """The pipeline's status when it refuses; a 200 leaves the status a resolver set."""
    return None if response.status == 200 else response.status


_NOT_GIVEN: Any = Host.__dataclass_fields__["payload"].default  # the pipeline reads the body


def _first_of(
    result: Any,
    execution: Execution,
    streams: list[tuple[ExperimentalIncrementalExecutionResults, Execution]],
) -> Any:
    """An incremental answer (``@defer``/``@stream``) is kept for the view to stream; the
    pipeline measures and masks its first payload."""
    if isinstance(result, ExperimentalIncrementalExecutionResults):
        streams.append((result, execution))
        initial = result.initial_result
        return ExecutionResult(data=initial.data, errors=initial.errors)
    return result
