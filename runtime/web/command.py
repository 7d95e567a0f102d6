"""``s2s-onnx web BUNDLE -o DIR``: the try-it page and the Node module for a bundle (numpy + onnxruntime only)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cli.arguments import output_flag, verbose_flag
from ..model import Seq2SeqModel
from .ort_files import ORT_WEB_VERSION
from .site import write_site


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "web", help="write a static page (and an ES module for Node) that translates with the bundle in the browser"
    )
    verbose_flag(p)
    p.add_argument("bundle", type=Path, nargs="?", default=None, help="bundle directory (default: built-in)")
    output_flag(p, "the folder to write: index.html, s2s.mjs, the bundle's fused graphs, onnxruntime-web")
    p.add_argument(
        "--ort-dir",
        type=Path,
        default=None,
        help=f"onnxruntime-web {ORT_WEB_VERSION}'s dist folder (default: fetched once from the npm registry)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    model = Seq2SeqModel.open(args.bundle)  # refuses a damaged bundle before anything is written
    site = write_site(args.output, model, args.ort_dir, args.force, _progress())
    print(
        f"wrote {site.path} ({site.files} files, {site.bytes / 2**20:.1f} MB); open it over HTTP, e.g. "
        f"python3 -m http.server 8080 -d {site.path}, then http://127.0.0.1:8080/?q=TEXT"
    )
    return 0


def _progress() -> Callable[[int, int], None]:
    """The download's progress on stderr: a line per quarter (per 8 MB when the size is not known)."""
    shown = [-1]

    def show(done: int, total: int) -> None:
        mark = done // (max(total // 4, 1) if total else 8 * 2**20)
        if mark != shown[0]:
            shown[0] = mark
            whole = f" of {total / 2**20:.1f}" if total else ""
            what = f"onnxruntime-web {ORT_WEB_VERSION}"
            print(f"s2s-onnx: fetching {what}: {done / 2**20:.1f}{whole} MB", file=sys.stderr)

    return show
