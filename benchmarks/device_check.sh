#!/usr/bin/env bash
# The prepared device check: on a machine with an NVIDIA GPU, make onnxruntime-gpu importable, run the tests that
# need CUDA (tests/test_cuda.py) and the benchmark on CUDA (the built-in bundle; batch 1, 64 and 256; fused graph and
# step loop with I/O binding, beside the CPU rows), and write a log and JSON to $OUT (default: ./device-check).
# Within 10 minutes on an H200. Where onnxruntime-gpu comes from, first found wins:
#   1. an onnxruntime already importable with CUDAExecutionProvider;
#   2. wheels in .whl/ (a machine without a registry: benchmarks/stage_ort_gpu.sh fetches and splits them);
#   3. pip install onnxruntime-gpu (a machine that reaches PyPI).
# The project itself is not installed: its four packages are linked under their import names.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/device-check}
mkdir -p "$out"
exec > >(tee "$out/device_check.log") 2>&1
cd "$root"
python=${PYTHON:-python3}
site=/tmp/s2s-device-site
rm -rf "$site" && mkdir -p "$site/s2s_onnx"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3

has_cuda() { "$python" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; }

echo "== onnxruntime-gpu"
if has_cuda; then
  echo "onnxruntime with CUDA is already installed"
else
  if ls .whl/*.part-* >/dev/null 2>&1; then  # a wheel split to travel in pieces
    for first in .whl/*.part-aa; do cat "${first%.part-aa}".part-* > "${first%.part-aa}"; done
  fi
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl
  else
    "$python" -m pip install -q --target "$site" onnxruntime-gpu
  fi
  export PYTHONPATH="$site"
fi
for package in runtime models export benchmarks; do ln -sfn "$root/$package" "$site/s2s_onnx/$package"; done
cp runtime/entry/__main__.py "$site/s2s_onnx/__main__.py"
export PYTHONPATH="$site"
if ! has_cuda; then
  echo "device check: onnxruntime has no CUDAExecutionProvider here; see the log above" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$python" - > "$out/environment.json" <<'PY'
import json, platform, numpy, onnxruntime
print(json.dumps({"python": platform.python_version(), "numpy": numpy.__version__,
                  "onnxruntime": onnxruntime.__version__, "providers": onnxruntime.get_available_providers(),
                  "device": onnxruntime.get_device()}, indent=2))
PY
cat "$out/environment.json"

echo "== tests that need CUDA"
timeout 240 "$python" -m pytest -p no:cacheprovider -q -m cuda tests/test_cuda.py --junitxml="$out/cuda-tests.xml"
tests=$?

echo "== benchmark on CUDA (batch 1, 64, 256; fused and step loop with I/O binding)"
timeout 300 "$python" -m s2s_onnx bench --model runtime/assets/dates --device cuda --batch-sizes 1,64,256 \
  --repeats 10 --threads 1 -o "$out/bench"
bench=$?
echo "device check: tests exit $tests, bench exit $bench; results in $out"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
