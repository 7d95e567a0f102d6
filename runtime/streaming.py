"""The ``translate`` command's streaming loop: read lines as they come, decode them in batches, print each
batch as soon as it is decoded, and keep going past bad lines when asked (runtime only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO, TypeVar

from .decoding import Cancellation
from .errors import InputEncodingError, S2SError
from .model import DecodeResult, Seq2SeqModel

T = TypeVar("T")
MAX_LINE_BYTES = 1 << 20  # a longer line is an error (models take far shorter inputs), not a memory hazard


class LineError(S2SError, ValueError):
    """One input line could not be translated; the message starts with its line number."""


def argument_lines(texts: Iterable[str]) -> Iterator[tuple[int, str | S2SError]]:
    """Command-line texts; bytes that were not UTF-8 arrive as lone surrogates and are reported."""
    for number, text in enumerate(texts, 1):
        bad = next((c for c in text if "\udc80" <= c <= "\udcff"), None)
        if bad is not None:
            yield number, InputEncodingError(f"text is not valid UTF-8 (byte 0x{ord(bad) - 0xDC00:02x})")
        else:
            yield number, text


def stream_lines(stream: BinaryIO) -> Iterator[tuple[int, str | S2SError]]:
    """Lines of a byte stream as they arrive, decoded strictly as UTF-8; bad ones become errors."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                raw = stream.readline(MAX_LINE_BYTES)
            yield number, LineError(f"line is longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield number, InputEncodingError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})")


def interruptible(work: Callable[[], T], cancel: Cancellation) -> T:
    """Run ``work`` in a helper thread so that Ctrl-C in this one can cancel it at once.

    The wait is on an ``Event``, not ``Thread.join``: a join interrupted by Ctrl-C can report a running thread
    as finished, and a process that exits while onnxruntime still runs in a daemon thread aborts.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="s2s-decode", daemon=True).start()
    try:
        while not done.wait(0.05):
            pass
    except KeyboardInterrupt:
        cancel.cancel()
        done.wait(10.0)
        raise
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@dataclass
class LineTranslator:
    """Decodes numbered lines in batches of ``batch_size`` and writes each batch's results at once."""

    model: Seq2SeqModel
    out: BinaryIO
    batch_size: int
    as_json: bool = False
    keep_going: bool = False
    marker: str = "<error>"
    err: TextIO | None = None  # where --keep-going reports each bad line as it happens
    unit: str = "line"  # what the error messages call an input: "line" (stdin) or "argument"
    failures: list[str] = field(default_factory=list)
    cancel: Cancellation = field(default_factory=Cancellation)
    _pending: list[tuple[int, str]] = field(default_factory=list)

    def run(self, lines: Iterable[tuple[int, str | S2SError]]) -> None:
        for number, item in lines:
            error = item if isinstance(item, S2SError) else self._check(item)
            if error is None and isinstance(item, str):
                self._pending.append((number, item))
                if len(self._pending) >= self.batch_size:
                    self.flush()
                continue
            self.flush()
            self._fail(number, item if isinstance(item, str) else None, error)
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        texts = [text for _, text in self._pending]
        results = interruptible(lambda: self.model.decode(texts, cancel=self.cancel), self.cancel)
        self._write([self._format(text, result) for text, result in zip(texts, results, strict=True)])
        self._pending.clear()

    def _check(self, text: str) -> S2SError | None:
        options = self.model.options
        try:
            self.model.vocabulary.clean(
                text, unknown=options.unknown, truncate=options.truncate, allow_empty=options.allow_empty
            )
        except S2SError as exc:
            return exc
        return None

    def _fail(self, number: int, text: str | None, error: S2SError | None) -> None:
        message = f"{self.unit} {number}: {error}"
        if not self.keep_going:
            raise LineError(message) from error
        self.failures.append(message)
        if self.err is not None:
            self.err.write(f"s2s-onnx: error: {message}\n")
            self.err.flush()
        if self.as_json:
            self._write([json.dumps({"input": text, "line": number, "error": str(error)}, ensure_ascii=False)])
        else:
            self._write([self.marker])

    def _format(self, text: str, result: DecodeResult) -> str:
        if self.as_json:
            return json.dumps({"input": text, **result.to_dict()}, ensure_ascii=False)
        return "\t".join(result.texts) if len(result.texts) > 1 else result.text

    def _write(self, lines: list[str]) -> None:
        self.out.write("".join(line + "\n" for line in lines).encode("utf-8"))
        self.out.flush()
