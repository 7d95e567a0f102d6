"""Regenerate the built-in dates bundle shipped in ``s2s_onnx/runtime/assets/dates``.

    python -m s2s_onnx.models.builtin [--out runtime/assets/dates]

It runs the project's own ``train --task dates`` (default settings) and ``convert --fused`` (parity verified),
so the shipped model is exactly what a user gets from those commands.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from s2s_onnx.runtime.cli import main as cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "runtime" / "assets" / "dates"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "dates"
        if cli(["train", "--task", "dates", "-o", str(run)]) != 0:
            return 1
        if cli(["convert", str(run / "model.keras"), "-o", str(args.out), "--fused", "--force"]) != 0:
            return 1
    for leftover in args.out.glob("*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    print(f"built-in model written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
