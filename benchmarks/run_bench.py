"""One benchmark run in a fresh process: ``python -m s2s_onnx.benchmarks.run_bench BUNDLE KERAS THREADS OUT [INT8]``.

TensorFlow's thread settings only apply before it initialises, so each thread count gets its own process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .bench import BenchSettings, benchmark

CANONICAL_REPEATS = 50  # timed rounds per row and batch size (the predict() loop: 3)


def main(argv: list[str]) -> int:
    bundle, keras_file, threads, out = argv[:4]
    int8 = Path(argv[4]) if len(argv) > 4 else None
    result = benchmark(
        BenchSettings(
            Path(bundle), Path(keras_file), int8, threads=int(threads), out=Path(out), repeats=CANONICAL_REPEATS
        )
    )
    print(result.table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
