#!/usr/bin/env bash
# Prepare, on the CPU machine, what benchmarks/gpu-polymnist-check.sh needs on a lent GPU machine
# (docs/benchmarks/polymnist_quadrant.md, "On a GPU"). That machine's image has torch, numpy,
# scikit-learn, scikit-image, click, tqdm and safetensors but not pyro-ppl, and it cannot download;
# it runs Python 3.12. This fills .gpu-carry/ (in .gitignore, so the device tool can carry it):
#   .gpu-carry/whl/   pyro-ppl, pyro-api and opt-einsum wheels (pure Python)
#   .gpu-carry/data/  the MNIST files of the data mirror (11 MB)
# Usage: bash benchmarks/gpu-prepare.sh [MIRROR]   (MIRROR: default $OMICSDISENT_DATA_MIRROR or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
mirror=${1:-${OMICSDISENT_DATA_MIRROR:-../shared/data}}
if [ ! -d "$mirror/mnist" ]; then
  echo "gpu-prepare: no mnist/ folder in the data mirror '$mirror'; pass the mirror folder as the first argument" >&2
  exit 2
fi
rm -rf .gpu-carry.tmp && mkdir -p .gpu-carry.tmp/whl .gpu-carry.tmp/data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 -d .gpu-carry.tmp/whl "pyro-ppl==1.9.2" "pyro-api==0.1.2" "opt-einsum==3.4.0"
cp -r "$mirror/mnist" .gpu-carry.tmp/data/
rm -rf .gpu-carry && mv .gpu-carry.tmp .gpu-carry
du -sh .gpu-carry
