"""Run a snippet of Python in a fresh interpreter (a clean ``sys.modules``), as the import and extra tests need."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
