"""Running ``s2s.mjs`` for the tests: ``benchmarks/web/drive.mjs`` in Node (onnxruntime-node) or headless Chromium
(Debian's, driven by playwright-core), and comparing its results with the Python runtime's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NoReturn

import pytest

from s2s_onnx.benchmarks.web_latency import run_driver

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")


def skip_web(reason: str) -> NoReturn:
    """Skip a browser or Node test whose tools are missing; fail it where they must be there (``S2S_REQUIRE_WEB=1``,
    as ``.ci/run`` sets after installing them)."""
    if os.environ.get("S2S_REQUIRE_WEB") == "1":
        pytest.fail(f"S2S_REQUIRE_WEB=1, but {reason}")
    pytest.skip(reason)


def require_chromium() -> None:
    if CHROMIUM is None:
        skip_web("Debian's chromium is not installed (apt install chromium)")


def drive(*args: str, job: dict[str, Any] | None = None) -> dict[str, Any]:
    """``node benchmarks/web/drive.mjs ARGS``; a browser command skips where Chromium is missing."""
    if args[0] in ("page", "time-page"):
        require_chromium()
    return run_driver(*args, job=job, timeout=300)


def as_python(result: Any) -> dict[str, Any]:
    found: dict[str, Any] = result.to_dict()
    found["probabilities"] = list(result.probabilities)
    if result.score is not None:
        found["score"] = result.score
        found["n_best"] = [
            {"text": t, "token_ids": list(h.token_ids), "log_prob": h.log_prob, "score": h.score}
            for t, h in zip(result.texts, result.hypotheses, strict=True)
        ]
    return found


def assert_same(
    found: dict[str, Any], expected: dict[str, Any], tolerance: float = 1e-6, score_tolerance: float | None = None
) -> None:
    """The same tokens, stop reason and n-best lists; probabilities within ``tolerance``, beam scores
    (log-probabilities) within ``score_tolerance`` (default: the same)."""
    scores = tolerance if score_tolerance is None else score_tolerance
    for key in ("text", "token_ids", "stop_reason", "unknown_tokens"):
        assert found[key] == expected[key], (key, found, expected)
    assert found["probabilities"] == pytest.approx(expected["probabilities"], abs=tolerance)
    if "score" in expected:
        assert found["score"] == pytest.approx(expected["score"], abs=scores)
        assert [h["token_ids"] for h in found["n_best"]] == [h["token_ids"] for h in expected["n_best"]]
        found_scores, expected_scores = ([h["score"] for h in r["n_best"]] for r in (found, expected))
        assert found_scores == pytest.approx(expected_scores, abs=scores)


STATIC = ROOT / "runtime" / "web" / "static"


def node_agrees(bundle: Path, texts: list[str], options: dict[str, Any], **tolerances: float) -> None:
    """``s2s.mjs`` in Node decodes ``texts`` in ``bundle`` (a bundle folder as convert wrote it) exactly as the Python
    runtime does: texts, token ids, stop reasons, and probabilities and beam scores within 1e-6."""
    from s2s_onnx.runtime import Seq2SeqModel

    found = drive("node", str(STATIC), str(bundle), job={"texts": texts, "options": options})
    assert "error" not in found, found
    expected = Seq2SeqModel.load(bundle).decode(texts, **options)
    assert len(found["results"]) == len(expected)
    for js, py in zip(found["results"], expected, strict=True):
        assert_same(js, as_python(py), **tolerances)
