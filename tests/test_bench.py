"""The benchmark end to end on a tiny model, very few repetitions: structure and token checks, no timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_onnx.runtime.cli import main

pytestmark = pytest.mark.keras


def test_bench_end_to_end(bundle: Path, keras_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    code = main(
        [
            "bench",
            "--model",
            str(bundle),
            "--keras",
            str(keras_file),
            "--batch-sizes",
            "1,4",
            "--steps",
            "4",
            "--quick",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "floor" in printed and "s2s-onnx fused" in printed
    data = json.loads((out / "bench.json").read_text())
    assert {"machine", "versions", "settings", "results", "notes"} <= set(data)
    assert data["machine"]["logical_cores"] >= 1 and "onnxruntime" in data["versions"]
    assert data["settings"]["steps"] == 4 and data["settings"]["threads"]["onnxruntime_intra_op"] == 1
    rows = {r["row"] for r in data["results"]}
    for expected in (
        "Keras example loop, predict() per step",
        "Keras models called directly per step",
        "tf.function decoder step",
        "tf.function whole greedy loop",
        "onnxruntime naive run() per step [cpu]",
        "s2s-onnx step loop, I/O binding [cpu]",
        "s2s-onnx fused greedy.onnx [cpu]",
        "floor: recurrent mat-vecs h @ R only",
        "floor: every matrix product (encoder, decoder, Dense)",
    ):
        assert expected in rows, expected
    fused = next(r for r in data["results"] if r["row"].startswith("s2s-onnx fused") and r["batch_size"] == 1)
    # both columns are there; how they compare is a measurement (a quick run is noise), not asserted here
    assert fused["ratio_to_all_products"] > 0 and fused["ratio_to_floor"] > 0
    assert data["settings"]["decoder_step_weight_bytes"] > data["settings"]["encoder_step_weight_bytes"] > 0
    assert any("the all-products floor streams" in n and "GB/s" in n for n in data["notes"])
    assert any("numpy sgemm on the same products" in n and "% of sgemm" in n for n in data["notes"])
    litert = [r for r in data["results"] if r["row"].startswith("LiteRT")]
    assert litert or any("LiteRT" in n for n in data["notes"])
    for record in data["results"]:
        assert {r for r in (1, 4)} >= {record["batch_size"]}
        if record["row"].startswith("floor"):
            assert record["tokens_match_runtime"] is None
            continue
        assert not record["error"], record
        assert record["tokens_match_runtime"] is True, record["row"]
        assert record["sentence_median_ms"] > 0 and record["step_median_us"] > 0
        assert record["sentence_p99_ms"] >= record["sentence_median_ms"]
    assert (out / "bench.png").stat().st_size > 10_000


def test_bench_runtime_only(bundle: Path, tmp_path: Path, capsys) -> None:
    """Without --keras, with the bundle's int8 version (--int8): its rows are timed and their agreement shown."""
    from s2s_onnx.export.graphs.quantize import QuantizeOptions, quantize

    quantize(bundle, tmp_path / "int8", QuantizeOptions(min_identical=0))
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--model",
                str(bundle),
                "--int8",
                str(tmp_path / "int8"),
                "--batch-sizes",
                "2",
                "--steps",
                "3",
                "--quick",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads((out / "bench.json").read_text())
    assert not any(r["row"].startswith("Keras") for r in data["results"])
    assert any("--keras" in n for n in data["notes"])
    int8 = [r for r in data["results"] if r["row"].endswith("[cpu, int8]")]
    assert len(int8) == 3 and all(r["sentence_median_ms"] > 0 and 0 <= r["token_agreement"] <= 1 for r in int8)


def test_sentence_products_count_every_matrix() -> None:
    """The all-products floor's matrices for a 2-layer bidirectional GRU: per encoder step, 2 directions x (own
    recurrence + the input from the layer below, above the first); per decoder step, the same for the decoder
    stack plus the Dense."""
    from s2s_onnx.benchmarks.rows import sentence_products, weight_bytes
    from s2s_onnx.runtime.architecture import Architecture, StateTensor

    model = Architecture(
        "gru", 2, "bidirectional", "one_hot", "char", (StateTensor("state_h", 8), StateTensor("state_h_1", 8))
    )
    encoder, decoder = sentence_products(model, output_tokens=10)
    assert encoder == [(4, 12), (4, 12), (4, 12), (4, 12), (8, 12), (8, 12)]
    assert decoder == [(8, 24), (8, 24), (8, 24), (8, 10)]
    assert weight_bytes(decoder) == 4 * (3 * 8 * 24 + 80)


def test_int8_agreement_counts_rows_equal_through_the_end_token() -> None:
    import numpy as np

    from s2s_onnx.benchmarks.runner import agreement

    expected = np.array([[3, 1, 5, 5], [3, 3, 3, 3], [2, 1, 0, 0]])
    ids = np.array([[3, 1, 4, 4], [3, 3, 3, 2], [2, 2, 0, 0]])
    assert agreement(ids, expected, end_id=1) == 1 / 3  # row 0 equal through its end; row 1 has none; row 2 differs
    assert agreement(ids, expected, end_id=None) == np.mean(ids == expected)
