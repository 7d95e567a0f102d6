"""Ray Serve: the JSON API of ``s2s-onnx serve`` (``POST /translate``, ``GET /health``, ``GET /metadata``, JSON
errors with the same statuses), each replica loading the bundle once, texts of concurrent requests batched by
``@serve.batch``.

    serve run s2s_onnx.ray:app model=BUNDLE num_replicas=2 max_batch_size=32

:func:`app` builds the application from ``serve run``'s ``key=value`` arguments (or a ``serve build`` config's
``args``): ``model`` (default: the built-in bundle), ``threads`` (onnxruntime threads per replica, 1),
``max_batch_size`` (32), ``batch_wait_timeout_s`` (0.002), ``num_replicas`` (1) or ``min_replicas`` and
``max_replicas`` (autoscaling, ``target_ongoing_requests`` = the batch size), ``num_cpus`` per replica (1.0), and
the request limits of ``s2s-onnx serve`` (``max_texts``, ``max_body_bytes``, ``max_length``, ``max_beam_size``).
A replica takes at most ``2 × max_batch_size`` requests at once (``max_ongoing_requests``), so that a batch can fill.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.errors import InvalidOptionError, S2SError
from s2s_onnx.runtime.model import Seq2SeqModel, with_unknown
from s2s_onnx.runtime.options import DecodeOptions
from s2s_onnx.runtime.results import DecodeResult
from s2s_onnx.runtime.serving.batching import BatchingOptions
from s2s_onnx.runtime.serving.limits import ServerLimits
from s2s_onnx.runtime.serving.server import (
    RequestError,
    SafeJSON,
    TranslateService,
    error_response,
    translate_reply,
)
from s2s_onnx.runtime.sessions import SessionConfig

Item = tuple[str, list[int], DecodeOptions]  # a text, its ids (checked and encoded once), its options


@serve.deployment
class Translator:
    """One replica: the bundle, the request checks of ``s2s-onnx serve`` and a ``@serve.batch`` decode."""

    def __init__(self, bundle: str, threads: int, batching: dict[str, Any], limits: dict[str, Any]) -> None:
        options = BatchingOptions(**batching)
        self.model = Seq2SeqModel.open(bundle, SessionConfig(threads=threads), DecodeOptions())
        self.service = TranslateService(self.model, options, ServerLimits(**limits))
        self.decode.set_max_batch_size(options.max_batch_size)  # type: ignore[attr-defined]
        self.decode.set_batch_wait_timeout_s(options.max_delay_ms / 1000)  # type: ignore[attr-defined]

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def decode(self, items: list[Item]) -> list[DecodeResult | S2SError]:
        """Texts of concurrent requests, decoded together where their options agree; a text that fails gets its
        error (the others their results)."""
        results: list[DecodeResult | S2SError | None] = [None] * len(items)
        groups: dict[DecodeOptions, list[int]] = {}
        for index, (_, _, options) in enumerate(items):
            groups.setdefault(options, []).append(index)
        for options, indices in groups.items():
            group = [items[i] for i in indices]
            try:
                found: list[DecodeResult | S2SError] = list(self._decoded(group, options))
            except S2SError:  # one text fails: decode the group one by one to confine it
                found = [self._one(item, options) for item in group]
            for index, result in zip(indices, found, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def _decoded(self, group: list[Item], options: DecodeOptions) -> list[DecodeResult]:
        model: Seq2SeqModel = self.model
        found = model.decode_ids([ids for _, ids, _ in group], options)
        results: list[DecodeResult] = with_unknown(found, [model.unknown_tokens(t, options) for t, _, _ in group])
        return results

    def _one(self, item: Item, options: DecodeOptions) -> DecodeResult | S2SError:
        try:
            return self._decoded([item], options)[0]
        except S2SError as exc:
            return exc

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except Exception as exc:  # the same JSON errors as s2s-onnx serve
            reply: Response = error_response(exc)
            return reply

    async def _route(self, request: Request) -> Response:
        path, method = request.url.path.rstrip("/") or "/", request.method
        if path.endswith("/translate") and method == "POST":
            texts, options, details = await self.service.translate_request(request)
            batch = [texts] if isinstance(texts, str) else texts
            prepared = [(text, self.model.prepare(text, options), options) for text in batch]  # bad input: 4xx now
            found = await asyncio.gather(*(self.decode(item) for item in prepared))
            for result in found:
                if isinstance(result, S2SError):
                    raise result
            results = [r for r in found if isinstance(r, DecodeResult)]
            reply: Response = translate_reply(results[0] if isinstance(texts, str) else results, details)[0]
            return reply
        service: TranslateService = self.service
        if path.endswith("/health") and method == "GET":  # a replica that answers has its model loaded
            reply = SafeJSON({"status": "ok"})
            return reply
        if path.endswith("/metadata") and method == "GET":
            reply = (await service.metadata(request))[0]
            return reply
        raise RequestError(f"no such endpoint: {method} {request.url.path}", 404)


def _number(args: dict[str, Any], key: str, default: float, kind: type = int) -> Any:
    value = args.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{key}={value!r} is not a number; pass {key}=<number>") from None


def app(args: dict[str, Any]) -> Any:
    """The Serve application for ``serve run s2s_onnx.ray:app key=value ...`` (see the module's help)."""
    known = {"model", "threads", "max_batch_size", "batch_wait_timeout_s", "num_replicas", "min_replicas"}
    known |= {"max_replicas", "num_cpus", *(f.name for f in fields(ServerLimits))}
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidOptionError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    batch = _number(args, "max_batch_size", 32)
    batching = {"max_batch_size": batch, "max_delay_ms": 1000 * _number(args, "batch_wait_timeout_s", 0.002, float)}
    BatchingOptions(**batching)  # checked here, before any replica starts
    limits = {f.name: _number(args, f.name, 0) for f in fields(ServerLimits) if f.name in args}
    ServerLimits(**limits)
    options: dict[str, Any] = {
        "max_ongoing_requests": 2 * batch,
        "ray_actor_options": {"num_cpus": _number(args, "num_cpus", 1.0, float)},
    }
    if "min_replicas" in args or "max_replicas" in args:
        options["autoscaling_config"] = {
            "min_replicas": _number(args, "min_replicas", 1),
            "max_replicas": _number(args, "max_replicas", 2),
            "target_ongoing_requests": batch,
        }
    else:
        options["num_replicas"] = _number(args, "num_replicas", 1)
    bundle = str(args.get("model") or default_model_path())
    return Translator.options(**options).bind(  # type: ignore[attr-defined]
        bundle, _number(args, "threads", 1), batching, limits
    )
