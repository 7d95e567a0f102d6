"""``s2s-onnx translate-file``: a whole file of texts translated into a JSONL file, in input order.

Inputs: text lines (any name), JSON Lines (``.jsonl``, the text in ``--column``), CSV (``.csv``, a header row
naming ``--column``) or Parquet (``.parquet``, needs pyarrow). Each output line is one JSON object: ``line`` (the
input's line or row number, from 1), ``text``, ``translation``, ``stop_reason`` and, with ``--details``, the token
ids. A bad row stops the run (nothing is written), or with ``--keep-going`` becomes ``{"line", "text", "error"}``.
Runs here on the plain runtime, or (``--ray ADDRESS``) on a Ray cluster through Ray Data (the ``ray`` extra).
The output file appears whole or not at all.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFormatError, OutputError, S2SError
from ..model import Seq2SeqModel, with_unknown
from ..options import DecodeOptions

Row = tuple[int, "str | S2SError"]
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def input_kind(path: Path) -> str:
    return SUFFIXES.get(path.suffix.lower(), "text")


def read_rows(path: Path, column: str = "text") -> Iterator[Row]:
    """``(line number, text or the error that row has)`` for every row of ``path``, from 1."""
    kind = input_kind(path)
    if kind == "parquet":
        yield from _parquet_rows(path, column)
        return
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataFormatError(f"cannot read {path}: {exc.strerror}; give a readable file") from None
    with handle:
        if kind == "csv":
            yield from _csv_rows(handle, path, column)
            return
        for number, raw in enumerate(handle, 1):
            yield number, _row(raw, kind, column)


def _row(raw: bytes, kind: str, column: str) -> str | S2SError:
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return DataFormatError(f"not UTF-8 (byte {exc.start}); save the file as UTF-8")
    if kind == "text":
        return line
    try:
        value = json.loads(line)
    except ValueError as exc:
        return DataFormatError(f"not a JSON object ({exc})")
    text = value.get(column) if isinstance(value, dict) else None
    if not isinstance(text, str):
        return DataFormatError(f"no text field {column!r} (a string); name the field with --column")
    return text


def _csv_rows(handle: Any, path: Path, column: str) -> Iterator[Row]:
    text = (line.decode("utf-8", "replace") for line in handle)
    reader = csv.DictReader(text)
    if reader.fieldnames is None or column not in reader.fieldnames:
        found = ", ".join(reader.fieldnames or []) or "none"
        raise DataFormatError(f"{path} has no column {column!r} (columns: {found}); name it with --column")
    for number, record in enumerate(reader, 1):
        value = record.get(column)
        yield number, value if isinstance(value, str) else DataFormatError(f"no value in column {column!r}")


def _parquet_rows(path: Path, column: str) -> Iterator[Row]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise DataFormatError(f"reading {path} needs pyarrow: pip install 's2s-onnx[ray]' (or pyarrow)") from None
    try:
        table = pq.read_table(path, columns=[column])
    except (OSError, KeyError, ValueError) as exc:
        raise DataFormatError(f"cannot read column {column!r} of {path} ({exc}); name it with --column") from None
    for number, value in enumerate(table.column(column).to_pylist(), 1):
        yield number, value if isinstance(value, str) else DataFormatError(f"no text in column {column!r}")


def result_record(line: int, text: str, result: Any, details: bool) -> dict[str, Any]:
    """One output row: the same from the local path and from Ray Data."""
    record = {"line": line, "text": text, "translation": result.text, "stop_reason": result.stop_reason}
    if details:
        record["token_ids"] = list(result.token_ids)
    return record


def error_record(line: int, text: str | None, error: S2SError) -> dict[str, Any]:
    return {"line": line, "text": text, "error": {"type": type(error).__name__, "message": str(error)}}


def translate_batch(
    model: Seq2SeqModel, rows: list[tuple[int, str]], options: DecodeOptions, details: bool
) -> list[dict[str, Any]]:
    """Records for one batch of ``(line, text)``: each text checked on its own (a bad one gets its error record),
    the good ones decoded together."""
    good: list[tuple[int, str, list[int]]] = []
    records: dict[int, dict[str, Any]] = {}
    for line, text in rows:
        try:
            good.append((line, text, model.prepare(text, options)))
        except S2SError as exc:
            records[line] = error_record(line, text, exc)
    if good:
        found = model.decode_ids([ids for _, _, ids in good], options)
        results = with_unknown(found, [model.unknown_tokens(text, options) for _, text, _ in good])
        for (line, text, _), result in zip(good, results, strict=True):
            records[line] = result_record(line, text, result, details)
    return [records[line] for line, _ in rows]


@dataclass(frozen=True)
class FileJob:
    """What to translate and how: input, output, text column, per-row token ids, whether bad rows are kept."""

    source: Path
    target: Path
    column: str = "text"
    details: bool = False
    keep_going: bool = False


def local_records(model: Seq2SeqModel, job: FileJob, options: DecodeOptions) -> Iterator[dict[str, Any]]:
    """Every row's record, in input order, on this machine."""
    pending: list[tuple[int, str]] = []
    for line, item in read_rows(job.source, job.column):
        if isinstance(item, S2SError):
            yield from translate_batch(model, pending, options, job.details)
            pending = []
            yield error_record(line, None, item)
            continue
        pending.append((line, item))
        if len(pending) >= options.batch_size:
            yield from translate_batch(model, pending, options, job.details)
            pending = []
    yield from translate_batch(model, pending, options, job.details)


def write_records(job: FileJob, records: Iterable[dict[str, Any]], total: int | None) -> tuple[int, int]:
    """Write ``records`` as JSON Lines to ``job.target`` atomically, with progress on stderr; (rows, failures).
    A failure without ``keep_going`` raises, and nothing is written."""
    directory = job.target.parent if str(job.target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{job.target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write in {directory} ({exc.strerror}); pick another -o") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it private)
    rows = failures = 0
    progress = Progress(total)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for record in records:
                if "error" in record:
                    failures += 1
                    if not job.keep_going:
                        raise DataFormatError(f"line {record['line']}: {record['error']['message']}")
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                rows += 1
                progress.update(rows)
        os.replace(temp, job.target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    progress.done(rows)
    return rows, failures


class Progress:
    """A line on stderr, at most once a second: rows done, rate and the time left (when the total is known)."""

    def __init__(self, total: int | None) -> None:
        self.total, self.started = total, time.monotonic()
        self.said = self.started

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.said < 1.0:
            return
        self.said = now
        rate = rows / max(now - self.started, 1e-9)
        left = f", about {(self.total - rows) / rate:.0f} s left" if self.total and rate else ""
        of = f"/{self.total:,}" if self.total else ""
        sys.stderr.write(f"translate-file: {rows:,}{of} rows, {rate:,.0f}/s{left}\n")

    def done(self, rows: int) -> None:
        seconds = time.monotonic() - self.started
        sys.stderr.write(f"translate-file: {rows:,} rows in {seconds:.1f} s\n")


def count_rows(job: FileJob) -> int | None:
    """The number of rows, for the progress estimate (text and JSONL files: their lines)."""
    if input_kind(job.source) not in ("text", "jsonl"):
        return None
    with job.source.open("rb") as handle:
        return sum(1 for _ in handle)
