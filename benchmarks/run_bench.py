"""One benchmark run in a fresh process: ``python -m s2s_onnx.benchmarks.run_bench BUNDLE KERAS THREADS OUT``.

TensorFlow's thread settings only apply before it initialises, so each thread count gets its own process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .bench import BenchSettings, benchmark


def main(argv: list[str]) -> int:
    bundle, keras_file, threads, out = argv
    result = benchmark(
        BenchSettings(bundle=Path(bundle), keras_file=Path(keras_file), threads=int(threads), out=Path(out))
    )
    print(result.table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
