#!/usr/bin/env bash
# Run here, before a device check on a machine that reaches no registry: fetch onnxruntime-gpu for its Python
# (3.12 by default) into .whl/ (git-ignored) and split it into pieces that fit one call's 64 MiB transfer.
# Then carry one piece per device call, by its own path (carry: [".whl/onnxruntime_gpu-...whl.part-aa"]): paths
# not named stay on the warm machine, so after the last piece benchmarks/device_check.sh finds them all and joins
# them. (A machine whose image already has onnxruntime-gpu, or that reaches PyPI, needs none of this.)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${ORT_GPU_VERSION:-1.31.1}
python_version=${DEVICE_PYTHON:-3.12}
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  -d .whl "onnxruntime-gpu==$version"
for wheel in .whl/onnxruntime_gpu-*.whl; do
  split -b 60m "$wheel" "$wheel.part-"
  rm "$wheel"
done
ls -la .whl
