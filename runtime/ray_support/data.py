"""Ray Data: a dataset's texts translated by an actor pool of translators, each loading the bundle once.

``translate_dataset(dataset, model, column="text", **decode_options)`` returns the dataset with ``translation``
and ``stop_reason`` added (and ``token_ids`` with ``details=True``); a row the model cannot take gets its error in
``error`` (empty where there is none) instead of failing the whole run. Actors ask for a fraction of a CPU
(``num_cpus``), so that on a small machine they leave room for Ray Data's own read tasks, and are restarted (their
batches retried) if their process dies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from s2s_onnx.runtime.bundle import default_model_path
from s2s_onnx.runtime.cli.files import translate_batch
from s2s_onnx.runtime.model import Seq2SeqModel
from s2s_onnx.runtime.options import DecodeOptions
from s2s_onnx.runtime.sessions import SessionConfig


class Translator:
    """One actor's model: ``__call__`` takes a batch (a dict of numpy columns) and returns it with the results."""

    def __init__(self, bundle: str, options: dict[str, Any], column: str, details: bool, threads: int = 1) -> None:
        self.options = DecodeOptions(**options)
        self.model = Seq2SeqModel.open(bundle, SessionConfig(threads=threads), self.options)
        self.column, self.details = column, details

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch[self.column]]
        records = translate_batch(self.model, list(enumerate(texts)), self.options, self.details)
        out = dict(batch)
        out["translation"] = np.array([r.get("translation", "") for r in records], dtype=object)
        out["stop_reason"] = np.array([r.get("stop_reason", "") for r in records], dtype=object)
        out["error"] = np.array([r["error"]["message"] if "error" in r else "" for r in records], dtype=object)
        out["error_type"] = np.array([r["error"]["type"] if "error" in r else "" for r in records], dtype=object)
        if self.details:
            out["token_ids"] = np.array([r.get("token_ids", []) for r in records], dtype=object)
        return out


def translate_dataset(
    dataset: Any,
    model: str | Path | None = None,
    column: str = "text",
    *,
    details: bool = False,
    concurrency: int = 2,
    num_cpus: float = 0.5,
    batch_size: int = 64,
    **decode_options: Any,
) -> Any:
    """``dataset`` (a ``ray.data.Dataset`` with a ``column`` of texts) with the translations added, by
    ``concurrency`` translator actors of ``num_cpus`` each, ``batch_size`` rows per call."""
    options = DecodeOptions(batch_size=batch_size, **decode_options)  # checked here, before any actor starts
    bundle = str(model if model is not None else default_model_path())
    return dataset.map_batches(
        Translator,
        fn_constructor_kwargs={"bundle": bundle, "options": asdict(options), "column": column, "details": details},
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        num_cpus=num_cpus,
        max_restarts=-1,
        max_task_retries=-1,
    )


def file_records(
    job: Any, model: str | Path | None, options: DecodeOptions, address: str, concurrency: int
) -> Iterator[dict[str, Any]]:
    """``translate-file --ray``: every row's record of ``job.source``, in input order, translated on the Ray
    cluster at ``address`` (``auto``: the one this machine runs) through :func:`translate_dataset`."""
    import ray

    from s2s_onnx.runtime.cli.files import error_record, read_rows
    from s2s_onnx.runtime.errors import OutputError, S2SError

    rows = list(read_rows(job.source, job.column))
    records = {line: error_record(line, None, item) for line, item in rows if isinstance(item, S2SError)}
    items = [{"line": line, "text": item} for line, item in rows if not isinstance(item, S2SError)]
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except ConnectionError as exc:
        raise OutputError(
            f"no Ray cluster at {address!r} ({exc}); start one with 'ray start --head', or give --ray HOST:PORT"
        ) from None
    try:
        if items:
            fields = {k: v for k, v in asdict(options).items() if k != "batch_size"}
            dataset = translate_dataset(
                ray.data.from_items(items), model, "text", details=job.details, concurrency=concurrency,
                batch_size=options.batch_size, **fields,
            )  # fmt: skip
            for row in dataset.iter_rows():
                records[int(row["line"])] = _record(row, job.details)
    finally:
        ray.shutdown()
    yield from (records[line] for line in sorted(records))


def _record(row: dict[str, Any], details: bool) -> dict[str, Any]:
    line, text = int(row["line"]), str(row["text"])
    if row["error"]:
        return {"line": line, "text": text, "error": {"type": str(row["error_type"]), "message": str(row["error"])}}
    record = {"line": line, "text": text, "translation": row["translation"], "stop_reason": row["stop_reason"]}
    if details:
        record["token_ids"] = [int(t) for t in row["token_ids"]]
    return record
