#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install omicsdisent into it.
#   bash scripts/setup-env.sh ENV_DIR [EXTRA]
# EXTRA is an optional-dependency group from pyproject.toml, e.g. "test".
# Needs only python3. PyTorch's CPU build is installed first when no torch is present, so pip does
# not pull a multi-GB CUDA build through the "torch>=2.3" range; a GPU user can install their own
# torch into the environment beforehand and it is kept.
set -euo pipefail
env_dir=${1:-.venv}
extra=${2:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x "$env_dir/bin/python" ] || python3 -m venv "$env_dir"
py="$env_dir/bin/python"
"$py" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if ! "$py" -c "import torch" >/dev/null 2>&1; then
    "$py" -m pip install --quiet "torch==${OMICSDISENT_TORCH_VERSION:-2.13.0}"
fi
spec="$root"
[ -n "$extra" ] && spec="$root[$extra]"
"$py" -m pip install --quiet -e "$spec"
