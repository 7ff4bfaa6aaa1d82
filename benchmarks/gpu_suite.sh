#!/usr/bin/env bash
# The GPU checks and measurements, in one call on the GPU machine (one H200, Python 3.12,
# no package registry), from the repository root, writing every table under $OUT.
#
# Prepare on the CPU machine (Python 3.12 environment of the newest stack):
#   python benchmarks/gpu_wheels.py download --dir .gpu-wheels   # what the image lacks
#   mkdir -p .gpu-data && cp ../shared/data/kang2018_pbmc_ifnb.h5ad .gpu-data/
# then run it there, carrying both folders (ignored by git):
#   bash benchmarks/gpu_suite.sh --quick     # a first smoke call, about 2 minutes
#   bash benchmarks/gpu_suite.sh             # everything, under 8 minutes
#
# Steps: install the carried wheels; the GPU-marked tests; benchmarks/gpu.py (the default
# backbone and a Pythia-160m-sized one, bf16, SDPA, with and without torch.compile); the Kang
# benchmark on the GPU (7 held-out types, 1 seed); the scale benchmark at 100k cells on the
# GPU. A failed step is logged and the next one runs.
set -uo pipefail
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
OUT=${OUT:-/tmp/calmflow-gpu}
mkdir -p "$OUT"
WHEELS=${GPU_WHEELS:-.gpu-wheels}
export CALMFLOW_SC_DATA_DIR=${CALMFLOW_SC_DATA_DIR:-$PWD/.gpu-data}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/suite.log"; }
step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep going on failure
    local name=$1 limit=$2
    shift 2
    log "start $name"
    local begin=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local status=$?
    log "end $name: exit $status after $((SECONDS - begin)) s"
    tail -n 5 "$OUT/$name.txt" | tee -a "$OUT/suite.log"
}

log "install the carried wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || { log "installing the wheels failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests:$PWD/benchmarks
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, transformers, scvi, anndata; print('torch', torch.__version__,
  'cuda', torch.version.cuda, torch.cuda.get_device_name(0)); print('transformers',
  transformers.__version__, 'scvi-tools', scvi.__version__, 'anndata', anndata.__version__)"
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" | tee -a "$OUT/suite.log"

step gpu_tests 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
if [ "$QUICK" = 1 ]; then
    step throughput 180 python3 benchmarks/gpu.py --sizes default --steps 5 --cells 2000 \
        --out "$OUT/gpu.csv"
    log "quick suite done"
    exit 0
fi
step throughput 240 python3 benchmarks/gpu.py --sizes default pythia-160m --steps 20 \
    --compile --out "$OUT/gpu.csv"
step kang 150 python3 benchmarks/run.py kang --seeds 0 --models calmflow --fast-metrics \
    --accelerator gpu --no-fit --out "$OUT/kang_gpu.csv"
step scale 120 python3 benchmarks/scale.py --sizes 100000 --workdir /tmp/calmflow-scale \
    --accelerator gpu --out "$OUT/scale_gpu.csv"
log "suite done"
