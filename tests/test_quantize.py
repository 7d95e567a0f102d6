"""``s2s-onnx quantize``: int8 bundles from onnxruntime's dynamic quantization, measured against fp32 and refused
when their decodes drift (TensorFlow-free)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_fixtures import OPSET, TINY_VOCAB, random_weights, write_bundle

from s2s_onnx.export.graphs.graph import gemm_to_matmul
from s2s_onnx.export.graphs.quantize import QuantizationRefusedError, QuantizeOptions, quantize
from s2s_onnx.models import dates
from s2s_onnx.runtime import DecodeOptions, Seq2SeqModel
from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.cli import main


def test_gemm_becomes_matmul_and_add_in_subgraphs_too() -> None:
    rng = np.random.default_rng(0)
    weight, bias = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    body = helper.make_graph(
        [helper.make_node("Gemm", ["x_in", "w", "b"], ["y"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4]),
        ],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["direct"]),
            helper.make_node("Identity", ["x"], ["x_in"]),
            helper.make_node(
                "Loop",
                [
                    "n",
                    "",
                ],
                ["looped"],
                body=body,
            ),
        ],
        "outer",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("n", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("direct", TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("looped", TensorProto.FLOAT, [None, 2, 4]),
        ],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    feeds = {"x": rng.standard_normal((2, 3)).astype(np.float32), "n": np.array(2, np.int64)}

    def run(m: onnx.ModelProto) -> list[np.ndarray]:
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)

    before = run(model)
    assert gemm_to_matmul(model.graph) == 2
    onnx.checker.check_model(model)
    assert "Gemm" not in {n.op_type for n in model.graph.node}
    assert "Gemm" not in {n.op_type for n in model.graph.node[-1].attribute[0].g.node}
    for a, b in zip(before, run(model), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(before[0], feeds["x"] @ weight + bias, atol=1e-5)


def test_builtin_bundle_quantizes_and_keeps_its_answers(tmp_path: Path) -> None:
    sources, targets = dates.held_out_pairs(400)
    report = quantize(default_model_path(), tmp_path / "int8", texts=sources, targets=targets)
    assert report.identical >= 0.99 and report.fused_equals_steps == 1.0
    assert abs(report.exact_match["int8"] - report.exact_match["fp32"]) <= 0.005  # type: ignore[index]
    config = json.loads((tmp_path / "int8" / "config.json").read_text())
    assert config["provenance"]["quantization"]["identical"] == report.identical
    graph = onnx.load(str(tmp_path / "int8" / "greedy.onnx"))
    body = next(n for n in graph.graph.node if n.op_type == "Loop").attribute[0].g
    assert {"DynamicQuantizeMatMul", "MatMulInteger"} & {n.op_type for n in body.node}  # the loop is int8 too
    model = Seq2SeqModel.load(tmp_path / "int8")
    fused = model.decode(sources[:64])
    steps = model.decode(sources[:64], DecodeOptions(strategy="steps"))
    assert [r.token_ids for r in fused] == [r.token_ids for r in steps]
    assert model.translate("March 3rd, 2021") == "2021-03-03"


def test_drifting_int8_is_refused_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    """A tiny random (chaotic) bundle checked on random inputs: per-tensor reduced-range int8 changes decodes."""
    weights = random_weights(
        TINY_VOCAB.num_encoder_tokens, TINY_VOCAB.num_decoder_tokens, 5, seed=24, end_bias=(1, 0.6)
    )
    bundle = write_bundle(tmp_path / "tiny", weights)
    accepted = quantize(
        bundle, tmp_path / "accepted", QuantizeOptions(per_channel=False, reduce_range=True, min_identical=0)
    )
    assert accepted.identical < 1.0
    with pytest.raises(QuantizationRefusedError, match="nothing was written"):
        quantize(bundle, tmp_path / "refused", QuantizeOptions(per_channel=False, reduce_range=True, min_identical=1.0))
    assert not (tmp_path / "refused").exists()
    args = [
        "quantize",
        str(bundle),
        "-o",
        str(tmp_path / "cli"),
        "--per-tensor",
        "--reduce-range",
        "--min-identical",
        "1",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("s2s-onnx: error: int8") and not (tmp_path / "cli").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written bundle left
