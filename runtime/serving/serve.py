"""``s2s-onnx serve``: the HTTP service on uvicorn (the ``serve`` extra; imported only when it runs)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..cli.arguments import from_args, model_flag, option, positive_int, session_config, session_flags, verbose_flag
from ..errors import InvalidOptionError, OutputError, install_hint
from ..model import Seq2SeqModel
from ..options import DecodeOptions
from ..web.site import web_page
from .batching import BatchingOptions
from .limits import ServerLimits

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a bundle over HTTP with dynamic batching (the 'serve' extra)")
    verbose_flag(p)
    model_flag(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free port, printed on stderr; default: 8000)")
    session_flags(p)
    b, s = BatchingOptions, ServerLimits
    option(p, "--max-batch", source=(b, "max_batch_size"), type=positive_int, help="most requests per decode")
    option(p, "--max-delay-ms", source=(b, "max_delay_ms"), type=float, help="longest wait for a batch to fill")
    option(p, "--workers", source=(b, "workers"), type=positive_int, help="decode threads, each taking whole batches")
    option(
        p,
        "--max-queue",
        source=(b, "max_queue"),
        type=positive_int,
        help="most texts waiting; requests of several texts may fill three quarters (more: 503)",
    )
    option(p, "--timeout", source=(b, "timeout_s"), type=float, help="seconds a request may take (more: 504)")
    option(p, "--max-body-bytes", source=(s, "max_body_bytes"), type=positive_int, help="largest request body")
    option(p, "--max-texts", source=(s, "max_texts"), type=positive_int, help="most texts in one request")
    option(p, "--max-length", source=(s, "max_length"), type=positive_int, help="most tokens per text (none: bundle's)")
    option(p, "--max-beam", source=(s, "max_beam_size"), type=positive_int, help="largest beam_size a request may use")
    option(p, "--max-header-bytes", source=(s, "max_header_bytes"), type=positive_int, help="request headers' bytes")
    option(p, "--max-headers", source=(s, "max_headers"), type=positive_int, help="headers in one request")
    option(p, "--read-timeout", source=(s, "read_timeout_s"), type=float, help="seconds to receive a request")
    option(p, "--keep-alive", source=(s, "keep_alive_s"), type=float, help="seconds an idle connection stays open")
    option(p, "--max-connections", source=(s, "max_connections"), type=positive_int, help="connections open at once")
    p.add_argument(
        "--ort-dir",
        type=Path,
        default=None,
        help="onnxruntime-web's files for the page at /web/ (default: those 's2s-onnx web' fetched)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .guard import uvicorn_settings
        from .server import LOOPBACK_HOSTS, create_app
    except ModuleNotFoundError as exc:
        raise install_hint("serve", exc.name or "starlette") from exc

    batching, limits = from_args(BatchingOptions, args), from_args(ServerLimits, args)
    options = DecodeOptions(strategy="steps" if args.steps else "auto", batch_size=batching.max_batch_size)
    model = Seq2SeqModel.open(args.model, session_config(args), options, verify=not args.no_verify)
    hosts = LOOPBACK_HOSTS if args.host in LOOPBACK_HOSTS else ("*",)
    page = web_page(model, args.ort_dir)
    app = create_app(model, batching, limits, hosts, page)  # checks the settings before anything listens
    _ensure_open_files(limits.max_connections)
    # the event loop and the batcher's worker share the GIL; a short switch interval lets a finished batch's
    # worker and the loop hand over quickly (measured: about 10 % more requests per second, both modes)
    sys.setswitchinterval(0.0005)
    listener = _listen(args.host, args.port)
    host, port = listener.getsockname()[:2]
    print(f"s2s-onnx: serving {model.path} on http://{host}:{port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if page.files is None:
        logger.warning("no page at /web/: %s", page.problem)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        **uvicorn_settings(limits),
        timeout_graceful_shutdown=int(batching.timeout_s) + 1,
    )
    _server_class()(config).run(sockets=[listener])
    return 0


FILES_BESIDES_CONNECTIONS = 64  # the listening socket, the model's files, onnxruntime's and Python's own


def _ensure_open_files(connections: int) -> None:
    """Raise this process's open-file limit (soft, up to the hard one) to what ``connections`` need; refuse to
    start where it cannot be, since connections past the limit would be reset, with nothing said to anyone."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    needed = connections + FILES_BESIDES_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise InvalidOptionError(
            f"--max-connections {connections} needs about {needed} open files, but this process may open only "
            f"{hard} (ulimit -n); lower --max-connections to {max(hard - FILES_BESIDES_CONNECTIONS, 1)} or raise "
            "the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


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


def _server_class() -> type[Any]:
    """uvicorn's server, but a clean drain after SIGTERM exits 0: uvicorn re-raises the signal once it has shut
    down, which makes the process exit 143 as if it had been killed."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                captured = getattr(self, "_captured_signals", None)
                if isinstance(captured, list):
                    captured[:] = [s for s in captured if s != signal.SIGTERM]

    return Server
