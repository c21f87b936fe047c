#!/usr/bin/env bash
# The GPU check of the PolyMNIST-Quadrant benchmark, as one command for a lent GPU machine
# (device tool: run(command="bash benchmarks/gpu-polymnist-check.sh", carry=[".gpu-carry"], timeout_s=580)),
# after `bash benchmarks/gpu-prepare.sh` here. Two steps, in the `paper` configuration (64x64, z 32, w 128,
# batch 128, widths (64, 128, 256, 256), every term on) with bf16 autocast and channels-last:
#   1. throughput: IDMVAE, 1 epoch on THROUGHPUT_N tuples (tuples/s and TFLOP/s in its CSV);
#   2. the largest table that fits: IDMVAE and MMVAE+ on TABLE_N tuples, with as many epochs as the
#      throughput of step 1 allows in TABLE_SECONDS of training (at least 1).
# Results go to $OUT (or ./gpu-out): run.log (device, versions, both steps' output) and each step's
# CSV, markdown and protocol.json (7 files: the device tool brings back at most 8). Every knob is an environment
# variable, so the script can be tried on CPU first:
#   PROTOCOL=small DEVICE=cpu EXTRA="" THROUGHPUT_N=256 TABLE_N=256 TABLE_SECONDS=5 OUT=/tmp/gpu-try \
#     bash benchmarks/gpu-polymnist-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
device=${DEVICE:-cuda}
protocol=${PROTOCOL:-paper}
extra=${EXTRA:---bf16 --channels-last}
throughput_n=${THROUGHPUT_N:-10000}
table_n=${TABLE_N:-20000}
table_seconds=${TABLE_SECONDS:-240}
if [ -d .gpu-carry/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/od-site .gpu-carry/whl/*.whl
  export PYTHONPATH=/tmp/od-site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export OMICSDISENT_DATA_MIRROR=${OMICSDISENT_DATA_MIRROR:-$PWD/.gpu-carry/data}
export OMICSDISENT_CACHE=${OMICSDISENT_CACHE:-/tmp/od-cache} PYTHONUNBUFFERED=1
bench() { python3 -c 'import sys; from omicsdisent.cli import main; sys.exit(main())' bench polymnist-quadrant \
  --protocol "$protocol" --device "$device" $extra "$@"; }
log=$out/run.log
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; } > "$log" 2>&1 || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tee -a "$log"

bench --n-train "$throughput_n" --epochs 1 --model IDMVAE --out "$out/throughput" --force 2>&1 | tee -a "$log"
table_models=(IDMVAE MMVAE+)
epochs=$(python3 - "$out/throughput/polymnist_quadrant.csv" "$table_n" "$table_seconds" "${#table_models[@]}" <<'PY'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
tuples_per_s, n, seconds, rows = float(row["tuples/s"]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(max(1, int(seconds * tuples_per_s / (rows * n))))  # IDMVAE's rate: MMVAE+'s rows run faster
PY
)
echo "table: $table_n tuples, $epochs epochs per row" | tee -a "$log"
bench --n-train "$table_n" --epochs "$epochs" "${table_models[@]/#/--model=}" --out "$out/table" --force 2>&1 | tee -a "$log"
