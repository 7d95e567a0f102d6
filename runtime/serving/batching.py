"""Dynamic batching: single requests from many threads (or ``asyncio`` tasks) decoded together.

A :class:`DynamicBatcher` owns ``workers`` worker threads (default one). Callers
:meth:`~DynamicBatcher.submit` one text and get a ``Future``; a worker gathers requests for at most
``max_delay_ms`` after the first one arrives, or until ``max_batch_size`` are waiting, and decodes them in one
call (requests with different decode options in separate calls). Texts are taken from the callers waiting in
turn (round robin), so that one text is not kept behind another caller's hundreds. The queue is bounded in texts
(:class:`QueueFullError` when full; its last quarter is kept for single texts, so that callers of many texts at once
cannot lock out callers of one), every request has a deadline (:class:`RequestTimeoutError`), a failing batch is
retried request by request so that an error reaches only the request that caused it, and
:meth:`~DynamicBatcher.close` answers (``drain=True``) or rejects (:class:`BatcherClosedError`) everything still
queued. Greedy results equal unbatched decoding's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from ..errors import BatcherClosedError, OptionTypeError, QueueFullError, RequestTimeoutError
from ..model import Seq2SeqModel, as_texts, with_unknown
from ..options import MAX_BATCH_SIZE, DecodeOptions, check_int, check_number
from ..results import DecodeResult

logger = logging.getLogger(__name__)

MAX_QUEUE = 1_000_000
MAX_DELAY_MS = 1_000.0
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1e-3, 3_600.0
MAX_WORKERS = 64


@dataclass(frozen=True)
class BatchingOptions:
    """``max_batch_size``: most requests in one decode (1: no batching); ``max_delay_ms``: longest wait for a
    batch to fill after its first request; ``max_queue``: most texts waiting (more: :class:`QueueFullError`), of
    which requests of several texts may fill only :attr:`shared_room` (the rest is kept for single texts);
    ``timeout_s``: a request's default deadline, from submission to result; ``workers``: decode threads, each
    taking whole batches (more use more cores while the HTTP side works; each runs onnxruntime's own threads)."""

    max_batch_size: int = 32
    max_delay_ms: float = 2.0
    max_queue: int = 1024
    timeout_s: float = 30.0
    workers: int = 1

    def __post_init__(self) -> None:
        check_int("workers", self.workers, MAX_WORKERS)
        check_int("max_batch_size", self.max_batch_size, MAX_BATCH_SIZE)
        check_number("max_delay_ms", self.max_delay_ms, 0.0, MAX_DELAY_MS)
        check_int("max_queue", self.max_queue, MAX_QUEUE)
        check_number("timeout_s", self.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)

    @property
    def shared_room(self) -> int:
        """Queue slots that requests of several texts may fill: all but the last quarter of ``max_queue``."""
        return self.max_queue - self.max_queue // 4


@dataclass(frozen=True)
class BatchStats:
    """Counts since the batcher started: requests taken, answered, failed (their own error), timed out,
    rejected (queue full or closed), cancelled by their caller; batches run and how many held each size;
    requests waiting now."""

    submitted: int = 0
    answered: int = 0
    failed: int = 0
    timed_out: int = 0
    rejected: int = 0
    cancelled: int = 0
    batches: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    queued: int = 0


@dataclass
class _Request:
    ids: list[int]
    options: DecodeOptions
    future: concurrent.futures.Future[DecodeResult]
    deadline: float
    unknown_tokens: int = 0


class DynamicBatcher:
    """Gathers single decode requests into batches for one :class:`Seq2SeqModel`. Thread-safe; a context
    manager (leaving it drains the queue)."""

    def __init__(self, model: Seq2SeqModel, options: BatchingOptions | None = None) -> None:
        self.model = model
        self.options = options if options is not None else BatchingOptions()
        self._pending: dict[int, deque[_Request]] = {}  # each caller's texts, callers in turn order
        self._queued = 0  # texts in _pending
        self._callers = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._counts: dict[str, int] = {}
        self._sizes: dict[int, int] = {}
        self._outstanding = 0  # submitted, not yet resolved
        self._peak = 0  # most outstanding at once since the last batch started: the batch worth waiting for
        self._workers = [
            threading.Thread(target=self._work, name=f"s2s-onnx-batcher-{n}", daemon=True)
            for n in range(self.options.workers)
        ]
        for worker in self._workers:
            worker.start()

    # -- submitting ----------------------------------------------------------------------------------
    def submit(
        self, text: str, options: DecodeOptions | None = None, *, timeout: float | None = None, **overrides: Any
    ) -> concurrent.futures.Future[DecodeResult]:
        """Queue one text; the future resolves to its :class:`DecodeResult` or to the error it caused.

        Bad input (unknown characters, too long, a bad option) raises here, before queueing.
        ``timeout`` (seconds, default ``options.timeout_s``) is the request's deadline.
        """
        if not isinstance(text, str):
            raise OptionTypeError(f"submit takes one text (str), not {type(text).__name__}; use decode() for a list")
        return self._submit_all([text], options, overrides, timeout)[0]

    def _submit_all(
        self, texts: list[str], options: DecodeOptions | None, overrides: dict[str, Any], timeout: float | None = None
    ) -> list[concurrent.futures.Future[DecodeResult]]:
        """Queue every text of one caller, or none (:class:`QueueFullError`, :class:`BatcherClosedError`)."""
        opts = (options if options is not None else self.model.options).replace(**overrides)
        wait = self.options.timeout_s if timeout is None else timeout
        check_number("timeout", wait, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        deadline = time.monotonic() + wait
        requests = [self._request(text, opts, deadline) for text in texts]
        with self._cond:
            self._admit(len(requests))
            self._pending[next(self._callers)] = deque(requests)
            self._queued += len(requests)
            self._count("submitted", len(requests))
            self._outstanding += len(requests)
            self._peak = max(self._peak, self._outstanding)
            self._cond.notify()
        for request in requests:
            request.future.add_done_callback(self._resolved)
        return [r.future for r in requests]

    def _request(self, text: str, options: DecodeOptions, deadline: float) -> _Request:
        """``text`` checked and encoded (bad input raises here), with a future to answer it."""
        ids = self.model.prepare(text, options)
        return _Request(ids, options, concurrent.futures.Future(), deadline, self.model.unknown_tokens(text, options))

    def _admit(self, count: int) -> None:
        """Refuse ``count`` more texts if closed, or if they do not fit (several texts: :attr:`shared_room`)."""
        if self._closed:
            self._count("rejected", count)
            raise BatcherClosedError("the batcher is shut down and takes no more requests")
        room = self.options.max_queue if count == 1 else self.options.shared_room
        if self._queued + count > room:
            self._count("rejected", count)
            kept = "" if count == 1 else f", of which requests of several texts may fill {room}"
            raise QueueFullError(
                f"{self._queued} texts are waiting and this request brings {count}; the queue holds "
                f"{self.options.max_queue} (max_queue){kept}; retry later, or raise max_queue (serve: --max-queue)"
            )

    def _resolved(self, future: concurrent.futures.Future[DecodeResult]) -> None:
        with self._cond:
            self._outstanding -= 1

    @overload
    def decode(self, texts: str, options: DecodeOptions | None = ..., **overrides: Any) -> DecodeResult: ...
    @overload
    def decode(
        self, texts: Sequence[str], options: DecodeOptions | None = ..., **overrides: Any
    ) -> list[DecodeResult]: ...
    def decode(
        self, texts: str | Sequence[str], options: DecodeOptions | None = None, **overrides: Any
    ) -> DecodeResult | list[DecodeResult]:
        """Decode one text (one result) or a list (a list), blocking until every result is in."""
        futures = self._submit_all(as_texts(texts), options, overrides)
        until = time.monotonic() + self.options.timeout_s
        try:
            results = [_wait(f, until) for f in futures]
        finally:
            for future in futures:
                future.cancel()
        return results[0] if isinstance(texts, str) else results

    async def decode_async(
        self, texts: str | Sequence[str], options: DecodeOptions | None = None, **overrides: Any
    ) -> DecodeResult | list[DecodeResult]:
        """:meth:`decode` for ``asyncio``: awaits the results without blocking the event loop. Cancelling the
        awaiting task withdraws requests not yet decoding."""
        futures = self._submit_all(as_texts(texts), options, overrides)
        waiting = [asyncio.wrap_future(f) for f in futures]
        try:
            _, late = await asyncio.wait(waiting, timeout=self.options.timeout_s)
        finally:
            for future in futures:
                future.cancel()
        if late:
            raise RequestTimeoutError(_timeout_message(self.options.timeout_s))
        results = [w.result() for w in waiting]
        return results[0] if isinstance(texts, str) else results

    # -- lifecycle -----------------------------------------------------------------------------------
    def close(self, *, drain: bool = True, timeout: float | None = None) -> None:
        """Stop taking requests; decode what is queued (``drain``) or reject it with
        :class:`BatcherClosedError`; wait up to ``timeout`` seconds for the worker to finish."""
        with self._cond:
            self._closed = True
            dropped = [] if drain else [r for texts in self._pending.values() for r in texts]
            if not drain:
                self._pending.clear()
                self._queued = 0
            self._cond.notify_all()
        for request in dropped:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(BatcherClosedError("the batcher shut down before this request ran"))
                self._locked_count("rejected")
        until = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers:
            worker.join(None if until is None else max(until - time.monotonic(), 0.0))

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> BatchStats:
        with self._cond:
            return BatchStats(
                **{name: self._counts.get(name, 0) for name in _COUNTERS},
                batch_sizes=dict(self._sizes),
                queued=self._queued,
            )

    def __enter__(self) -> DynamicBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker ----------------------------------------------------------------------------------
    def _count(self, name: str, amount: int = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + amount

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._run(batch)
            except Exception as exc:  # the worker never dies: whatever is unanswered gets the error
                logger.exception("batch failed")
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)

    def _next_batch(self) -> list[_Request] | None:
        """Wait for a first request, then up to ``max_delay_ms`` more for the batch to fill; ``None`` once
        closed and empty. The wait ends early once as many requests wait as were outstanding at once since the
        last batch began: a lone caller is not kept waiting for company that is not coming."""
        delay = self.options.max_delay_ms / 1000
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            target = min(self.options.max_batch_size, max(self._peak, 1))
            until = time.monotonic() + delay
            while self._queued < target and not self._closed and (left := until - time.monotonic()) > 0:
                self._cond.wait(left)
            batch = self._take(min(self.options.max_batch_size, self._queued))
            self._peak = self._outstanding
            return batch

    def _take(self, count: int) -> list[_Request]:
        """``count`` texts, one from each caller in turn; a caller with texts left goes to the back of the line."""
        batch: list[_Request] = []
        while len(batch) < count:
            for caller in list(self._pending):
                texts = self._pending.pop(caller)
                batch.append(texts.popleft())
                if texts:
                    self._pending[caller] = texts
                if len(batch) == count:
                    break
        self._queued -= count
        return batch

    def _run(self, batch: list[_Request]) -> None:
        now, live = time.monotonic(), []
        for request in batch:
            if not request.future.set_running_or_notify_cancel():
                self._locked_count("cancelled")
            elif request.deadline < now:
                request.future.set_exception(RequestTimeoutError(_timeout_message(None)))
                self._locked_count("timed_out")
            else:
                live.append(request)
        groups: dict[object, list[_Request]] = {}
        for request in live:
            # a seeded draw must not depend on its batch neighbours: each sampling request decodes alone
            key = (request.options, id(request)) if request.options.sampling else request.options
            groups.setdefault(key, []).append(request)
        for group in groups.values():
            self._decode_group(group)
        with self._cond:
            self._count("batches")
            self._sizes[len(live)] = self._sizes.get(len(live), 0) + 1

    def _decode_group(self, group: list[_Request]) -> None:
        """Decode requests with the same options in one call; if it fails, one by one to confine the error."""
        options = group[0].options.replace(batch_size=len(group))
        try:
            results = self.model.decode_ids([r.ids for r in group], options)
        except Exception as exc:
            if len(group) > 1:
                for request in group:
                    self._decode_group([request])
                return
            group[0].future.set_exception(exc)
            self._locked_count("failed")
            return
        for request, result in zip(group, results, strict=True):
            request.future.set_result(with_unknown(result, [request.unknown_tokens])[0])
        self._locked_count("answered", len(group))

    def _locked_count(self, name: str, amount: int = 1) -> None:
        with self._cond:
            self._count(name, amount)


_COUNTERS = ("submitted", "answered", "failed", "timed_out", "rejected", "cancelled", "batches")


def _wait(future: concurrent.futures.Future[DecodeResult], until: float) -> DecodeResult:
    try:
        return future.result(max(until - time.monotonic(), 0.0))
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise RequestTimeoutError(_timeout_message(None)) from None


def _timeout_message(timeout: float | None) -> str:
    waited = "its deadline" if timeout is None else f"{timeout:g} s"
    return f"the request was not decoded within {waited}; retry, or raise the timeout (serve: --timeout)"
