#!/usr/bin/env bash
# The device checks, prepared as one call for the day a session is lent the GPU machine:
#
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=570)      (logs come back from $OUT)
#   bash benchmarks/gpu_check.sh --quick                            (here, on a CPU, first)
#
# That machine's image already holds JAX with CUDA, optax, NumPy, pandas, pyarrow, SciPy, tqdm,
# contourpy and pytest, and it cannot reach PyPI: distlaw runs from this checkout through
# PYTHONPATH, nothing is installed. In order of what the open work needs:
#   1. the devices JAX sees;
#   2. issue 11, item 4: the loss atlas behind an accelerator against the pyarrow-only write,
#      whole command and in process (benchmarks/atlas_throughput.py, sweeps/large.toml, 33.5M rows);
#   3. the atlas and law tests on the GPU (float64 there, sharding over its device);
#   4. paper-scale fitting (benchmarks/gpu_paper_scale.py), in the time that is left.
# Each step has its own time limit, so one that hangs cannot take the others' time.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1
OUT="${OUT:-${TMPDIR:-/tmp}/distlaw-gpu-check}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python3}"
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.txt
    local name=$1 seconds=$2
    shift 2
    echo "== $name (limit ${seconds}s): $*"
    timeout "$seconds" "$@" 2>&1 | tee "$OUT/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

step devices 60 "$PYTHON" -c "import jax, optax, pyarrow, pandas, scipy, tqdm; print('jax', jax.__version__, jax.devices())"
if ((quick)); then
    step atlas_throughput 300 "$PYTHON" benchmarks/atlas_throughput.py sweeps/throughput.toml
    step gpu_paper_scale 300 "$PYTHON" benchmarks/gpu_paper_scale.py --quick
else
    step atlas_throughput 200 "$PYTHON" benchmarks/atlas_throughput.py sweeps/large.toml
    step tests 120 "$PYTHON" -m pytest -q -x -p no:cacheprovider tests/test_laws.py tests/test_atlas.py -k "not duckdb"
    step gpu_paper_scale 120 "$PYTHON" benchmarks/gpu_paper_scale.py --width 16384
    # Issue 18: the 10^6 and 10^7-run fits on the device (chunks sized from its memory), SciPy beside.
    step large_tables 150 "$PYTHON" benchmarks/large_tables.py --sizes 1e6,1e7
fi
