#!/usr/bin/env bash
# The GPU check, in one run that needs no editing:
#   1. the CUDA tests (pytest -m cuda, over the test files that have any),
#   2. bench_losses, bench_engine and bench_sweeps (the SDM comparison is in bench_losses) at the
#      issues' sizes on CUDA, and the same on the CPU (2 threads) in the same run,
#   3. one Markdown table: term, CPU, CUDA, ratio, peak CUDA memory.
# Exits non-zero when a CUDA test failed (or a benchmark could not run).
#
#   PYTHON=python3 bench/gpu_check.sh              # on a machine with a GPU
#   PYTHON=python3 bench/gpu_check.sh --device cpu # the CPU alone (to try the script anywhere)
#   ... --quick                                    # small sizes, a smoke run
#
# It uses the interpreter it is given and installs nothing when that has torch, scipy, numpy, pytest
# and hypothesis (and pillow, safetensors, timm, which geoviz's engine reads with); gradio is not
# needed. Everything it writes stays in the checkout: bench/.gpu-check/ (results, caches).
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
DEVICE=cuda
QUICK=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --device=*) DEVICE="${1#--device=}"; shift ;;
    --quick) QUICK=(--quick); shift ;;
    *) echo "usage: PYTHON=python3 bench/gpu_check.sh [--device cuda|cpu] [--quick]" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "--device must be cuda or cpu (got $DEVICE)" >&2; exit 2 ;; esac

OUT="$PWD/bench/.gpu-check"
rm -rf "$OUT"
mkdir -p "$OUT/cache"
# caches that libraries would put under $HOME go into the checkout
export XDG_CACHE_HOME="$OUT/cache" TORCH_HOME="$OUT/cache/torch" HF_HOME="$OUT/cache/hf" \
       MPLCONFIGDIR="$OUT/cache/mpl" PYTHONPYCACHEPREFIX="$OUT/cache/pycache" GRADIO_ANALYTICS_ENABLED=False
START=$(date +%s)

if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "error: $PY has no torch; give an interpreter with PyTorch: PYTHON=/path/to/python bench/gpu_check.sh" >&2
  exit 3
fi
# what is missing (import name → pip name), installed into the checkout only
MISSING=$("$PY" - <<'EOF'
import importlib.util
need = {"scipy": "scipy", "numpy": "numpy", "pytest": "pytest", "hypothesis": "hypothesis", "PIL": "pillow",
        "safetensors": "safetensors", "timm": "timm"}
print(" ".join(pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [ -n "$MISSING" ]; then
  echo "installing into bench/.gpu-check/site (nothing outside the checkout): $MISSING"
  "$PY" -m pip install --quiet --no-deps --target "$OUT/site" $MISSING || { echo "error: could not install $MISSING" >&2; exit 3; }
  export PYTHONPATH="$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: torch.cuda.is_available() is False with $PY; on a machine without a GPU run with --device cpu" >&2
  exit 3
fi
"$PY" -c "import torch; print('torch', torch.__version__, '· CUDA', torch.version.cuda, '·',
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"

echo
echo "## 1. CUDA tests"
mapfile -t FILES < <(grep -rl --include='*.py' "pytest.mark.cuda" tests | sort)
"$PY" -m pytest -q -m cuda -rs -p no:cacheprovider "${FILES[@]}" 2>&1 | tee "$OUT/cuda-tests.txt"
TESTS_RC=${PIPESTATUS[0]}

echo
echo "## 2. benchmarks on: $([ "$DEVICE" = cuda ] && echo "cpu and cuda" || echo cpu)"
BENCH_RC=0
DEVICES=(cpu)
[ "$DEVICE" = cuda ] && DEVICES+=(cuda)
for dev in "${DEVICES[@]}"; do
  for bench in bench_losses bench_engine bench_sweeps; do
    extra=()
    [ "$bench" = bench_losses ] && extra=(--repeats 5)
    # the sweeps once each, at their 512² (--quick keeps the size and leaves out the Python-loop comparison)
    [ "$bench" = bench_sweeps ] && extra=(--quick)
    t0=$(date +%s)
    if "$PY" "bench/$bench.py" --device "$dev" "${QUICK[@]}" "${extra[@]}" --json "$OUT/$dev-$bench.json" \
        > "$OUT/$dev-$bench.txt" 2>&1; then
      echo "$bench on $dev: $(( $(date +%s) - t0 )) s (bench/.gpu-check/$dev-$bench.txt)"
    else
      echo "FAILED: $bench on $dev — the end of bench/.gpu-check/$dev-$bench.txt:"
      tail -n 15 "$OUT/$dev-$bench.txt"
      BENCH_RC=1
    fi
  done
done

echo
echo "## 3. the table (CPU: 2 threads)"
"$PY" bench/gpu_table.py "$OUT" | tee "$OUT/table.md"

echo
echo "CUDA tests: exit status $TESTS_RC · benchmarks: $([ $BENCH_RC = 0 ] && echo all ran || echo some failed) · $(( $(date +%s) - START )) s in all"
[ "$TESTS_RC" = 0 ] || exit 1
exit $BENCH_RC
