"""``s2s-onnx serve``: the HTTP service on uvicorn (the ``serve`` extra; imported only when it runs)."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from .errors import OutputError, install_hint


def register(subparsers: Any, positive_int: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a bundle over HTTP with dynamic batching (the 'serve' extra)")
    p.add_argument("--model", type=Path, default=None, help="bundle directory (default: the built-in dates model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free port, printed on stderr)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("--threads", type=positive_int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--steps", action="store_true", help="decode step by step even if the bundle has greedy.onnx")
    p.add_argument("--max-batch", type=positive_int, default=32, help="most requests per decode (1: no batching)")
    p.add_argument("--max-delay-ms", type=float, default=2.0, help="longest wait for a batch to fill")
    p.add_argument("--workers", type=positive_int, default=1, help="decode threads, each taking whole batches")
    p.add_argument("--max-queue", type=positive_int, default=1024, help="most requests waiting (more: 503)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take (more: 504)")
    p.add_argument("--max-body-bytes", type=positive_int, default=64 * 1024, help="largest request body")
    p.add_argument("--max-texts", type=positive_int, default=64, help="most texts in one request")
    p.add_argument("--max-length", type=positive_int, default=None, help="most tokens per text (default: bundle's)")
    p.add_argument("--max-beam", type=positive_int, default=8, help="largest beam_size a request may ask for")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .server import ServerLimits, create_app
    except ModuleNotFoundError as exc:
        raise install_hint("serve", exc.name or "starlette") from exc
    from .batching import BatchingOptions
    from .bundle import Bundle
    from .model import Seq2SeqModel
    from .options import DecodeOptions
    from .sessions import SessionConfig

    batching = BatchingOptions(args.max_batch, args.max_delay_ms, args.max_queue, args.timeout, args.workers)
    limits = ServerLimits(args.max_body_bytes, args.max_texts, args.max_length, args.max_beam)
    options = DecodeOptions(strategy="steps" if args.steps else "auto", batch_size=args.max_batch)
    sessions = SessionConfig(device=args.device, threads=args.threads)
    model = Seq2SeqModel(Bundle.open(args.model, sessions, greedy=not args.steps), options)
    app = create_app(model, batching, limits)  # checks the settings before anything listens
    # the event loop and the batcher's worker share the GIL; a short switch interval lets a finished batch's
    # worker and the loop hand over quickly (measured: about 10 % more requests per second, both modes)
    sys.setswitchinterval(0.0005)
    listener = _listen(args.host, args.port)
    host, port = listener.getsockname()[:2]
    print(f"s2s-onnx: serving {model.path} on http://{host}:{port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(args.timeout) + 1,
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, so that a busy port is a clean error and port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on accepted connections (else Nagle adds 40 ms)
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise OutputError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from None
    listener.listen(2048)
    return listener
