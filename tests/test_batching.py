"""The dynamic batcher with the built-in bundle on real onnxruntime sessions (no TensorFlow): batched results
equal unbatched decoding; back-pressure, deadlines, confined errors, cancellation and shutdown.

``GatedModel`` is the real model with a gate in front of its decode, so that a test can hold the worker in a
decode while it queues more requests; results still come from the real decode.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from s2s_onnx.runtime import (
    BatcherClosedError,
    BatchingOptions,
    DecodeLimitError,
    DynamicBatcher,
    InvalidOptionError,
    QueueFullError,
    RequestTimeoutError,
    Seq2SeqModel,
    UnknownCharacterError,
)


class GatedModel(Seq2SeqModel):
    """The real model; each decode first waits for ``gate`` (set: no waiting) and counts itself in ``entered``;
    a batch holding the ``poison`` input fails, as a decode that breaks on one input would."""

    def __init__(self, model: Seq2SeqModel) -> None:
        super().__init__(model.bundle, model.options)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)
        self.poison: list[int] | None = None

    def decode_ids(self, ids, options=None, **overrides):  # type: ignore[override]
        self.entered.release()
        if not self.gate.wait(30):
            raise RuntimeError("test gate never opened")
        if self.poison is not None and self.poison in ids:
            raise RuntimeError("this input breaks the decode")
        return super().decode_ids(ids, options, **overrides)


@pytest.fixture(scope="module")
def model() -> Seq2SeqModel:
    return Seq2SeqModel.load(threads=1)


@pytest.fixture(scope="module")
def texts(model: Seq2SeqModel) -> list[str]:
    decodes = json.loads((model.path / "reference.json").read_text("utf-8"))["decodes"]
    return [d["text"] for d in decodes]


@pytest.fixture()
def gated(model: Seq2SeqModel):
    gated = GatedModel(model)
    yield gated
    gated.gate.set()


def hold_worker(batcher: DynamicBatcher, gated: GatedModel, text: str):
    """Close the gate and park the worker inside a decode of ``text``; returns that request's future."""
    gated.gate.clear()
    future = batcher.submit(text)
    assert gated.entered.acquire(timeout=10), "the worker never started decoding"
    return future


def test_concurrent_requests_batch_and_equal_unbatched(model: Seq2SeqModel, texts: list[str]) -> None:
    expected = [model.decode(t) for t in texts]
    with DynamicBatcher(model, BatchingOptions(max_batch_size=16, max_delay_ms=20)) as batcher:
        with ThreadPoolExecutor(32) as pool:
            got = list(pool.map(batcher.decode, texts))
        stats = batcher.stats()
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]
    assert [g.text for g in got] == [e.text for e in expected]
    assert stats.answered == stats.submitted == len(texts)
    assert max(stats.batch_sizes) > 1, stats
    assert max(stats.batch_sizes) <= 16
    assert sum(size * n for size, n in stats.batch_sizes.items()) == len(texts)


def test_two_workers_take_whole_batches_and_equal_unbatched(model: Seq2SeqModel, texts: list[str]) -> None:
    expected = [model.decode(t).token_ids for t in texts]
    options = BatchingOptions(max_batch_size=8, max_delay_ms=5, workers=2)
    with DynamicBatcher(model, options) as batcher, ThreadPoolExecutor(32) as pool:
        got = list(pool.map(batcher.decode, texts * 3))
        stats = batcher.stats()
    assert [g.token_ids for g in got] == expected * 3
    assert stats.answered == len(texts) * 3 and max(stats.batch_sizes) <= 8


def test_one_in_one_out_a_list_in_a_list_out(model: Seq2SeqModel, texts: list[str]) -> None:
    with DynamicBatcher(model) as batcher:
        one = batcher.decode(texts[0])
        many = batcher.decode(texts[:5])
    assert one.text == model.translate(texts[0])
    assert [r.text for r in many] == model.translate(texts[:5])


def test_asyncio_interface_equals_sequential(model: Seq2SeqModel, texts: list[str]) -> None:
    async def run(batcher: DynamicBatcher) -> list:
        singles = await asyncio.gather(*(batcher.decode_async(t) for t in texts[:20]))
        listed = await batcher.decode_async(texts[20:30])
        return [r.text for r in singles] + [r.text for r in listed]

    with DynamicBatcher(model) as batcher:
        got = asyncio.run(run(batcher))
    assert got == model.translate(texts[:30])


def test_bad_input_is_refused_at_submit(model: Seq2SeqModel) -> None:
    with DynamicBatcher(model) as batcher:
        with pytest.raises(UnknownCharacterError, match="does not know"):
            batcher.submit("März 3")
        with pytest.raises(TypeError, match="one text"):
            batcher.submit(["a list"])  # type: ignore[arg-type]
        assert batcher.stats().submitted == 0


def test_full_queue_is_a_clear_error(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=1, max_queue=2))
    held = hold_worker(batcher, gated, texts[0])
    queued = [batcher.submit(t) for t in texts[1:3]]
    with pytest.raises(QueueFullError, match="max_queue"):
        batcher.submit(texts[3])
    gated.gate.set()
    assert [f.result(10).text for f in [held, *queued]] == model.translate(texts[:3])
    batcher.close()
    assert batcher.stats().rejected == 1


def test_callers_of_many_texts_leave_room_for_single_texts(
    model: Seq2SeqModel, gated: GatedModel, texts: list[str]
) -> None:
    """A queue of 8: requests of several texts may fill 6 of its slots; the last 2 are kept for single texts."""
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=1, max_queue=8))
    assert batcher.options.shared_room == 6
    held = hold_worker(batcher, gated, texts[0])
    with ThreadPoolExecutor(1) as pool:
        many = pool.submit(batcher.decode, texts[1:7])
        while batcher.stats().queued < 6:
            time.sleep(0.01)
        with pytest.raises(QueueFullError, match="requests of several texts may fill 6"):
            batcher.decode(texts[7:9])
        singles = [batcher.submit(t) for t in texts[7:9]]
        with pytest.raises(QueueFullError, match="8 texts are waiting"):
            batcher.submit(texts[9])
        gated.gate.set()
        assert [r.text for r in many.result(10)] == model.translate(texts[1:7])
    assert [f.result(10).text for f in [held, *singles]] == model.translate([texts[0], *texts[7:9]])
    batcher.close()
    assert batcher.stats().rejected == 3


def test_callers_take_turns(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    """Texts are taken one per caller in turn: a single text queued after a caller's six is in the next batch."""
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=2, max_queue=16))
    held = hold_worker(batcher, gated, texts[0])
    finished: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        many = pool.submit(batcher.decode, texts[1:7])
        while batcher.stats().queued < 6:
            time.sleep(0.01)
        single = batcher.submit(texts[7])
        single.add_done_callback(lambda _: finished.append("single"))
        gated.gate.set()
        many.result(10)
        finished.append("many")
    assert finished == ["single", "many"] and single.result().text == model.translate(texts[7])
    held.result(10)
    batcher.close()
    assert batcher.stats().batch_sizes == {1: 2, 2: 3}  # held; (many, single); (many, many) twice; many


def test_deadline_passes_while_queued(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=1, timeout_s=0.2))
    held = hold_worker(batcher, gated, texts[0])
    late = batcher.submit(texts[1], timeout=0.05)
    with pytest.raises(RequestTimeoutError, match="not decoded within"):
        batcher.decode(texts[2])  # waits 0.2 s, the batcher's timeout, while the worker is held
    time.sleep(0.1)
    gated.gate.set()
    assert held.result(10).text == model.translate(texts[0])
    with pytest.raises(RequestTimeoutError):
        late.result(10)
    batcher.close()
    stats = batcher.stats()
    assert stats.timed_out == 1 and stats.cancelled == 1, stats


def test_an_error_reaches_only_its_own_request(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    gated.poison = model.vocabulary.source_ids([texts[4]])[0]
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=8, max_delay_ms=200))
    held = hold_worker(batcher, gated, texts[0])
    good = [batcher.submit(t) for t in texts[1:4]]
    poisoned = batcher.submit(texts[4])
    more = [batcher.submit(t) for t in texts[5:7]]
    gated.gate.set()
    assert held.result(10).text == model.translate(texts[0])
    assert [f.result(10).text for f in good + more] == model.translate(texts[1:4] + texts[5:7])
    with pytest.raises(RuntimeError, match="breaks the decode"):
        poisoned.result(10)
    assert max(batcher.stats().batch_sizes) == 6  # they were one batch
    batcher.close()
    assert batcher.stats().failed == 1


def test_a_failing_batch_is_retried_one_by_one(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    """Two requests that fit alone but not together (the memory bound) still both get their answers."""
    options = {"beam_size": 64, "max_length": 10_000}
    with pytest.raises(DecodeLimitError):
        model.decode(texts[:2], **options, batch_size=2)
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=8, max_delay_ms=200))
    held = hold_worker(batcher, gated, texts[0])
    pair = [batcher.submit(t, **options) for t in texts[1:3]]
    gated.gate.set()
    held.result(10)
    assert [f.result(60).text for f in pair] == [model.decode(t, **options).text for t in texts[1:3]]
    batcher.close()


def test_cancelled_requests_are_never_decoded(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=1))
    held = hold_worker(batcher, gated, texts[0])
    withdrawn = batcher.submit(texts[1])
    assert withdrawn.cancel()
    gated.gate.set()
    held.result(10)
    batcher.close()
    assert batcher.stats().cancelled == 1 and batcher.stats().answered == 1


def test_close_drains_the_queue(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=4))
    held = hold_worker(batcher, gated, texts[0])
    queued = [batcher.submit(t) for t in texts[1:10]]
    closer = threading.Thread(target=batcher.close)
    closer.start()
    time.sleep(0.05)
    with pytest.raises(BatcherClosedError, match="shut down"):
        batcher.submit(texts[10])
    gated.gate.set()
    closer.join(30)
    assert not closer.is_alive()
    assert [f.result(0).text for f in [held, *queued]] == model.translate(texts[:10])


def test_close_without_drain_rejects_what_is_queued(model: Seq2SeqModel, gated: GatedModel, texts: list[str]) -> None:
    batcher = DynamicBatcher(gated, BatchingOptions(max_batch_size=1))
    held = hold_worker(batcher, gated, texts[0])
    queued = [batcher.submit(t) for t in texts[1:6]]
    gated.gate.set()
    batcher.close(drain=False, timeout=30)
    assert held.result(0).text == model.translate(texts[0])
    for future in queued:
        assert future.done()
        if future.exception() is not None:
            assert isinstance(future.exception(), BatcherClosedError)
    assert sum(f.exception() is not None for f in queued) >= 4  # at most one slipped in before the close


def test_seeded_sampling_does_not_depend_on_its_batch(model: Seq2SeqModel, texts: list[str]) -> None:
    options = {"sampling": True, "temperature": 3.0, "seed": 7}
    alone = [model.decode(t, **options).text for t in texts[:12]]
    batching = BatchingOptions(max_batch_size=12, max_delay_ms=50)
    with DynamicBatcher(model, batching) as batcher, ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda t: batcher.decode(t, **options).text, texts[:12]))
    assert got == alone


@pytest.mark.parametrize(
    "changes",
    [
        {"max_batch_size": 0},
        {"max_delay_ms": -1.0},
        {"max_queue": 0},
        {"timeout_s": 0.0},
        {"max_batch_size": 10**6},
        {"workers": 0},
    ],
)
def test_batching_options_are_checked(changes: dict) -> None:
    with pytest.raises(InvalidOptionError, match="must be between"):
        BatchingOptions(**changes)
