"""The HTTP service of ``s2s-onnx serve``: a Starlette app over a :class:`DynamicBatcher` (the ``serve`` extra).

``POST /translate`` takes ``{"text": "..."}`` (one result back) or ``{"text": ["...", ...]}`` (``{"results":
[...]}`` back) plus decode options by name (``max_length``, ``beam_size``, ``num_return``, ...); a result is
the text and its stop reason (a beam search adds ``score`` and ``n_best``), and ``"details": true`` adds token
ids and probabilities. ``GET /health``,
``GET /metadata`` (config, versions, limits) and ``GET /metrics`` (Prometheus text) describe the service. Every
error is JSON, ``{"error": {"type": ..., "message": ...}}``: 4xx for the request's own fault (413 too large,
400 malformed, 422 undecodable), 503 when the queue is full or the service is stopping, 504 past the deadline.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from importlib import metadata
from typing import Any

import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..errors import (
    BatcherClosedError,
    InvalidOptionError,
    OptionTypeError,
    QueueFullError,
    RequestTimeoutError,
    S2SError,
)
from ..json_files import JsonDepthError, load_json
from ..model import Seq2SeqModel
from ..options import (
    DecodeOptions,
)
from ..results import DecodeResult
from ..web.site import WebPage
from .batching import BatchingOptions, DynamicBatcher
from .limits import ServerLimits
from .metrics import ServerMetrics

logger = logging.getLogger(__name__)

EXAMPLE_BODY = '{"text": "..."}'
REQUEST_OPTIONS = (
    "max_length",
    "unknown",
    "truncate",
    "allow_empty",
    "beam_size",
    "num_return",
    "length_penalty",
    "sampling",
    "temperature",
    "top_k",
    "top_p",
    "seed",
)


class RequestError(S2SError, ValueError):
    """A request the service cannot take; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    model: Seq2SeqModel,
    batching: BatchingOptions | None = None,
    limits: ServerLimits | None = None,
    allowed_hosts: tuple[str, ...] = ("*",),
    page: WebPage | None = None,
) -> Starlette:
    """The ASGI app; the batcher starts with the app's lifespan and drains when it ends. ``allowed_hosts``: the
    ``Host`` names it answers to (``*``: any; a loopback server: :data:`LOOPBACK_HOSTS`); ``page``: the try-it page
    served at ``/web/`` (``s2s-onnx web``'s)."""
    service = TranslateService(model, batching if batching is not None else BatchingOptions(), limits or ServerLimits())
    service.allowed_hosts = tuple(h.lower() for h in allowed_hosts)
    room = service.batching.max_queue if service.limits.max_texts == 1 else service.batching.shared_room
    if service.limits.max_texts > room:
        raise InvalidOptionError(
            f"max_texts ({service.limits.max_texts}) exceeds the {room} queue slots a request of several texts may "
            f"fill (max_queue {service.batching.max_queue}, less the quarter kept for single texts), so such a "
            "request could never be taken; raise --max-queue or lower --max-texts"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    routes = [
        Route("/translate", service.timed("/translate", service.translate), methods=["POST"]),
        Route("/health", service.timed("/health", service.health), methods=["GET"]),
        Route("/metadata", service.timed("/metadata", service.metadata), methods=["GET"]),
        Route("/metrics", service.metrics, methods=["GET"]),
    ]
    if page is not None:
        from .page import page_routes  # it builds on this module

        routes += page_routes(service, page)
    handlers = {HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.router.redirect_slashes = False  # a redirect would echo the client's Host header back to it
    return app


class SafeJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: any reply encodes, even one that quotes a lone surrogate from
    a client's request (a field name, say), which UTF-8 cannot carry."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


class TranslateService:
    def __init__(self, model: Seq2SeqModel, batching: BatchingOptions, limits: ServerLimits) -> None:
        self.model, self.batching, self.limits = model, batching, limits
        self.ceiling = limits.max_length if limits.max_length is not None else model.max_length()
        self.counts = ServerMetrics()
        self.allowed_hosts: tuple[str, ...] = ("*",)
        self.batcher: DynamicBatcher | None = None

    def start(self) -> None:
        self.batcher = DynamicBatcher(self.model, self.batching)
        logger.info("batching %s; limits %s", self.batching, self.limits)

    def check_host(self, request: Request) -> None:
        """A loopback server answers only to loopback names: a page elsewhere cannot reach it by rebinding its own
        domain name to 127.0.0.1 (DNS rebinding)."""
        if "*" in self.allowed_hosts:
            return
        host = request.headers.get("host", "")
        name = host if host.endswith("]") else host.rsplit(":", 1)[0]
        if name.lower() not in self.allowed_hosts:
            raise RequestError(
                f"Host {host!r} is not this server's; it answers to {', '.join(self.allowed_hosts)}", 421
            )

    def stop(self) -> None:
        if self.batcher is not None:
            self.batcher.close(drain=True, timeout=self.limits.drain_timeout_s)

    def timed(
        self, path: str, endpoint: Callable[[Request], Awaitable[tuple[Response, int]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            try:
                self.check_host(request)
                response, texts = await endpoint(request)
            except ClientDisconnect:
                response, texts = _error(499, "ClientDisconnect", "the client went away"), 0
            except Exception as exc:
                response, texts = error_response(exc), 0
            self.counts.record(path, response.status_code, time.perf_counter() - started, texts)
            return response

        return handle

    async def translate(self, request: Request) -> tuple[Response, int]:
        texts, options, details = await self.translate_request(request)
        if self.batcher is None:
            raise BatcherClosedError("the service is not running")
        return translate_reply(await self.batcher.decode_async(texts, options), details)

    async def translate_request(self, request: Request) -> tuple[str | list[str], DecodeOptions, bool]:
        """A ``POST /translate``'s texts, decode options and ``details``, checked (``RequestError`` if not)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            # text/plain, forms and no type at all are what any web page may post without asking (no CORS preflight)
            raise RequestError(
                f"send the body as JSON with 'Content-Type: application/json' (got {kind or 'no content type'!r})",
                415,
            )
        payload = _parse_json(await _read_body(request, self.limits.max_body_bytes))
        return self._request(payload)

    async def health(self, request: Request) -> tuple[Response, int]:
        batcher = self.batcher
        if batcher is None or batcher.closed:
            return _error(503, "BatcherClosedError", "the service is stopping"), 0
        return SafeJSON({"status": "ok", "queued": batcher.stats().queued}), 0

    async def metadata(self, request: Request) -> tuple[Response, int]:
        return SafeJSON(
            {
                "config": self.model.config.to_dict(),
                "versions": _versions(),
                "providers": self.model.providers,
                "fused": self.model.fused,
                "batching": asdict(self.batching),
                "limits": {**asdict(self.limits), "max_length": self.ceiling},
                "request_options": list(REQUEST_OPTIONS),
            }
        ), 0

    async def metrics(self, request: Request) -> Response:
        stats = self.batcher.stats() if self.batcher is not None else None
        body = self.counts.render(stats) if stats is not None else ""
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    def _request(self, payload: object) -> tuple[str | list[str], DecodeOptions, bool]:
        """The texts, the decode options and ``details`` of a request body, checked against the limits."""
        if not isinstance(payload, dict):
            raise RequestError(f"the body must be a JSON object such as {EXAMPLE_BODY}")
        unknown = sorted(set(payload) - {"text", "details", *REQUEST_OPTIONS})
        if unknown:
            valid = ", ".join(("text", "details", *REQUEST_OPTIONS))
            raise RequestError(f"unknown field(s) {', '.join(unknown)}; valid: {valid}")
        texts = payload.get("text")
        if isinstance(texts, list):
            if not 1 <= len(texts) <= self.limits.max_texts:
                raise RequestError(f"'text' holds {len(texts)} texts; send 1 to {self.limits.max_texts} per request")
            if not all(isinstance(t, str) for t in texts):
                raise RequestError("every item of 'text' must be a string")
        elif not isinstance(texts, str):
            raise RequestError("'text' must be a string or a list of strings")
        fields = {name: payload[name] for name in REQUEST_OPTIONS if name in payload}
        beams = fields.get("beam_size")
        if isinstance(beams, int) and not isinstance(beams, bool) and beams > self.limits.max_beam_size:
            raise RequestError(f"beam_size may be at most {self.limits.max_beam_size} on this service", 422)
        options = self.model.options.replace(**fields)
        if options.max_length is None and self.model.max_length(options) > self.ceiling:
            options = options.replace(max_length=self.ceiling)
        if self.model.max_length(options) > self.ceiling:
            raise RequestError(f"max_length may be at most {self.ceiling} on this service", 422)
        if options.beam_size > self.limits.max_beam_size:
            raise RequestError(f"beam_size may be at most {self.limits.max_beam_size} on this service", 422)
        details = payload.get("details", False)
        if not isinstance(details, bool):
            raise RequestError("'details' must be true or false")
        return texts, options, details


def translate_reply(results: DecodeResult | list[DecodeResult], details: bool) -> tuple[Response, int]:
    """The reply to one text (an object) or a list (``{"results": [...]}``), and how many texts it holds."""
    shape = DecodeResult.to_dict if details else _summary
    if isinstance(results, DecodeResult):
        return SafeJSON(shape(results)), 1
    return SafeJSON({"results": [shape(r) for r in results]}), len(results)


def _summary(result: DecodeResult) -> dict[str, Any]:
    """The answer without ``details``: the text and why it stopped; a beam search adds its score and n-best."""
    found: dict[str, Any] = {"text": result.text, "stop_reason": result.stop_reason}
    if result.score is not None:
        found["score"] = round(result.score, 6)
        found["n_best"] = [
            {"text": text, "score": round(h.score, 6)} for text, h in zip(result.texts, result.hypotheses, strict=True)
        ]
    return found


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body has {declared} bytes, more than the {limit} this service takes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(f"the body is over the {limit} bytes this service takes", 413)
    return bytes(body)


def _parse_json(body: bytes) -> object:
    try:
        return load_json(body)
    except JsonDepthError as exc:
        raise RequestError(f"the body's {exc}; send a flat object such as {EXAMPLE_BODY}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the body is not valid JSON ({exc}); send an object such as {EXAMPLE_BODY}") from None


_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (QueueFullError, 503),
    (BatcherClosedError, 503),
    (RequestTimeoutError, 504),
    (OptionTypeError, 400),
    (InvalidOptionError, 422),
    (ValueError, 422),
)


def error_response(exc: Exception) -> Response:
    if isinstance(exc, RequestError):
        return _error(exc.status, type(exc).__name__, str(exc))
    for kind, status in _STATUS:
        if isinstance(exc, kind) and isinstance(exc, S2SError):
            response = _error(status, type(exc).__name__, str(exc))
            if isinstance(exc, QueueFullError):
                response.headers["Retry-After"] = "1"
            return response
    logger.exception("unexpected error")
    return _error(500, "InternalError", "the service failed on this request; see its log")


def _error(status: int, kind: str, message: str) -> SafeJSON:
    return SafeJSON({"error": {"type": kind, "message": message}}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return _error(status, "HTTPError", f"{detail}: {request.method} {request.url.path}")


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error")
    return _error(500, "InternalError", "the service failed on this request; see its log")


def _versions() -> dict[str, str]:
    try:
        own = metadata.version("s2s-onnx")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return {"s2s-onnx": own, "onnxruntime": ort.__version__, "numpy": np.__version__}
