"""The CUDA path on a machine with an NVIDIA GPU and onnxruntime-gpu (``benchmarks/device_check.sh`` runs these);
skipped everywhere else. The built-in bundle on CUDA decodes what it decodes on the CPU: greedy fused and step by
step (the step loop keeps its states on the device through I/O binding), beam search, batches of 1, 64 and 256."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from s2s_onnx.models.realistic_dates import realistic_pairs
from s2s_onnx.runtime import DecodeOptions, DynamicBatcher, Seq2SeqModel
from s2s_onnx.runtime.decoding import _device_of
from s2s_onnx.runtime.sessions import CUDA

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(CUDA not in ort.get_available_providers(), reason="needs onnxruntime-gpu and a CUDA GPU"),
]
TEXTS = realistic_pairs(256, seed=11)[0]


@pytest.fixture(scope="module")
def models() -> tuple[Seq2SeqModel, Seq2SeqModel]:
    cuda = Seq2SeqModel.load(device="cuda")
    assert cuda.providers[0] == CUDA, cuda.providers
    return cuda, Seq2SeqModel.load()


def essence(results: list) -> list[tuple[tuple[int, ...], str]]:
    return [(r.token_ids, r.stop_reason) for r in results]


@pytest.mark.parametrize("batch_size", [1, 64, 256])
@pytest.mark.parametrize("strategy", ["fused", "steps"])
def test_cuda_greedy_equals_cpu(models, batch_size: int, strategy: str) -> None:
    cuda, cpu = models
    texts = TEXTS if batch_size > 1 else TEXTS[:32]
    options = DecodeOptions(batch_size=batch_size, strategy=strategy)  # type: ignore[arg-type]
    assert essence(cuda.decode(texts, options)) == essence(cpu.decode(texts, options))


def test_the_step_loop_keeps_its_states_on_the_gpu(models) -> None:
    cuda, _ = models
    assert _device_of(cuda.bundle.decoder)[0] == "cuda"


@pytest.mark.parametrize("strategy", ["fused", "steps"])
def test_cuda_beam_search_equals_cpu(models, strategy: str) -> None:
    cuda, cpu = models
    options = DecodeOptions(beam_size=4, num_return=2, batch_size=64, strategy=strategy)  # type: ignore[arg-type]
    got, want = cuda.decode(TEXTS[:64], options), cpu.decode(TEXTS[:64], options)
    assert [r.texts[0] for r in got] == [r.texts[0] for r in want]


def test_cuda_dynamic_batching(models) -> None:
    cuda, cpu = models
    with DynamicBatcher(cuda) as batcher:
        got = [f.result(timeout=60) for f in [batcher.submit(t) for t in TEXTS[:128]]]
    assert essence(got) == essence(cpu.decode(TEXTS[:128]))
