#!/usr/bin/env bash
# The Python environment the ONNX tests check exported files in: ONNX (its checker) and ONNX
# Runtime, at the versions below, in a virtual environment of its own under the build folder
# (made once, from the Python package index, then reused). Prints the environment's python.
#
#   tests/onnx/env.sh [DIR]      (default: target/onnx-env)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-${CARGO_TARGET_DIR:-target}/onnx-env}"
requirements="onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6"
stamp="$dir/.requirements"
if [[ ! -x "$dir/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]]; then
  rm -rf "$dir"
  if ! python3 -m venv "$dir" >&2; then
    # A bare Debian or Ubuntu has python3 without venv (or no python3): install them if allowed.
    if command -v apt-get > /dev/null && [[ "$(id -u)" == 0 ]]; then
      echo "installing python3-venv with apt-get" >&2
      apt-get install -y -qq python3 python3-venv >&2 \
        || { apt-get update -qq >&2 && apt-get install -y -qq python3 python3-venv >&2; }
      rm -rf "$dir"
      python3 -m venv "$dir" >&2
    else
      echo "tests/onnx/env.sh: python3 with venv is needed (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$stamp"
fi
echo "$(cd "$dir" && pwd)/bin/python"
