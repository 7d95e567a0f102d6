"""A real ``s2s-onnx serve`` process on the loopback address and a lean keep-alive HTTP/1.1 client for it.

The load test and the serving tests both use these: the server runs as its own process (its own GIL, shut
down by SIGTERM like a deployment would), and the client is plain ``asyncio`` streams, cheap enough that
64 concurrent clients do not starve the server on a small machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from s2s_onnx.runtime.errors import S2SError

LISTENING = re.compile(r"on http://(?P<host>[^:\s]+):(?P<port>\d+)")


class ServerStartError(S2SError, RuntimeError):
    """The server process did not start listening."""


@dataclass
class ServerProcess:
    """``python -m s2s_onnx serve --port 0 ARGS...`` running; ``stderr`` collects what it printed."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (uvicorn drains in-flight requests, then the batcher its queue); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ServerStartError(f"the server did not stop within {timeout:g} s; killed it") from None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    args: Sequence[str], timeout: float = 120.0, open_files: int | None = None, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """Start the server with ``args`` (``--model``, ``--max-batch``...) and wait until it listens; ``open_files``:
    its open-file limit (soft and hard, as ``ulimit -n`` would set it); ``env``: variables to set for it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "s2s_onnx", "serve", "--port", "0", *args]
    if open_files is not None:
        command = ["prlimit", f"--nofile={open_files}:{open_files}", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:
        if process.stderr is None:
            return
        for raw in process.stderr:
            lines.append(raw.decode("utf-8", "replace").rstrip())
            if LISTENING.search(lines[-1]):
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            raise ServerStartError(f"the server did not start: {' | '.join(lines[-3:]) or 'no output'}")
    match = next(m for m in map(LISTENING.search, lines) if m)
    return ServerProcess(process, match["host"], int(match["port"]), lines)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection (``Content-Length`` bodies only, as the server sends)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host)

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length"), 0)
        return status, await self.reader.readexactly(length)

    async def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = await self.request(
            "POST", path, json.dumps(payload).encode(), "Content-Type: application/json\r\n"
        )
        return status, json.loads(body) if body else None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def fetch(host: str, port: int, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    """One request on a fresh connection; a JSON body comes back parsed, text as a str."""
    connection = await HttpConnection.open(host, port)
    try:
        body = b"" if payload is None else json.dumps(payload).encode()
        kind = "" if payload is None else "Content-Type: application/json\r\n"
        status, raw = await connection.request(method, path, body, kind)
    finally:
        await connection.close()
    text = raw.decode()
    return status, json.loads(text) if text.startswith(("{", "[")) else text
