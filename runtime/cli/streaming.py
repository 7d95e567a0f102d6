"""The ``translate`` command's streaming loop: read lines as they come, decode them in batches, print each
batch as soon as it is decoded, and keep going past bad lines when asked (runtime only)."""

from __future__ import annotations

import json
import os
import select
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO, TypeVar

from ..decoding import Cancellation
from ..errors import InputEncodingError, S2SError
from ..model import Seq2SeqModel, with_unknown
from ..results import DecodeResult

T = TypeVar("T")
MAX_LINE_BYTES = 1 << 20  # a longer line is an error (models take far shorter inputs), not a memory hazard
READ_BYTES = 1 << 16


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


def stream_lines(stream: BinaryIO) -> Iterator[tuple[int, str | S2SError] | None]:
    """Lines of a byte stream as they arrive, decoded strictly as UTF-8 (bad ones become errors), and ``None``
    whenever the input pauses: a pipe or terminal with nothing more to read right now, so that what is pending
    can be answered while the writer waits for it."""
    number = 0
    for raw in _raw_lines(stream):
        if raw is None:
            yield None
            continue
        number += 1
        if raw is TOO_LONG:
            yield number, LineError(f"line is longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield number, InputEncodingError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})")


TOO_LONG = b"\0too long"  # stands for a line over MAX_LINE_BYTES (its bytes are dropped as they arrive)


def _raw_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Raw lines (``TOO_LONG`` for an over-long one), with ``None`` when a pipe or terminal pauses."""
    fd = _pollable_fd(stream)
    if fd is None:
        yield from _file_lines(stream)
        return
    buffer, skipping = bytearray(), False
    while True:
        end = buffer.find(b"\n")
        if end >= 0:
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            if not skipping:
                yield TOO_LONG if len(line) > MAX_LINE_BYTES + 1 else line
            skipping = False
            continue
        if len(buffer) > MAX_LINE_BYTES:
            if not skipping:
                yield TOO_LONG
            buffer.clear()
            skipping = True
        if not select.select([fd], [], [], 0)[0]:
            yield None  # nothing more to read right now
        chunk = os.read(fd, READ_BYTES)
        if not chunk:
            if buffer and not skipping:
                yield TOO_LONG if len(buffer) > MAX_LINE_BYTES else bytes(buffer)
            return
        buffer += chunk


def _pollable_fd(stream: BinaryIO) -> int | None:
    """The file descriptor of a pipe, socket or terminal that ``select`` can poll (None for regular files,
    in-memory streams and platforms whose ``select`` takes only sockets)."""
    if os.name == "nt":
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) else None


def _file_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Raw lines of a regular file or an in-memory stream (which never make a reader wait)."""
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                raw = stream.readline(MAX_LINE_BYTES)
            yield TOO_LONG
            continue
        yield raw


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
    _pending: list[tuple[str, list[int]]] = field(default_factory=list)

    def run(self, lines: Iterable[tuple[int, str | S2SError] | None]) -> None:
        """Translate ``lines`` (``None``: the input paused, so answer what is pending now)."""
        for line in lines:
            if line is None:
                self.flush()
                continue
            number, item = line
            if isinstance(item, S2SError):
                self.flush()
                self._fail(number, None, item)
                continue
            try:
                ids = self.model.prepare(item)
            except S2SError as exc:
                self.flush()
                self._fail(number, item, exc)
                continue
            self._pending.append((item, ids))
            if len(self._pending) >= self.batch_size:
                self.flush()
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        texts = [text for text, _ in self._pending]
        rows = [ids for _, ids in self._pending]
        found = interruptible(lambda: self.model.decode_ids(rows, cancel=self.cancel), self.cancel)
        results = with_unknown(found, [self.model.unknown_tokens(text) for text in texts])
        self._write([self._format(text, result) for text, result in zip(texts, results, strict=True)])
        self._pending.clear()

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
