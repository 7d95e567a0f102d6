"""``python -m s2s_onnx``: the same command line as ``s2s-onnx``."""

import sys

from s2s_onnx.runtime.cli import main

sys.exit(main())
