#!/usr/bin/env bash
# Everything a GPU run needs, in one device call (bench/README.md):
#   source .gpu-host/prelude.sh && bash bench/gpu-host-run.sh [STEP...]
# Steps (default: doctor parity bench torch):
#   doctor   clusterkv doctor
#   parity   clusterkv parity --backend webgpu: every kernel, both paths, against cpu (parity-webgpu-CARD.json)
#   bench    the kernel benchmark at 32K (all kernels, both paths, K-means; K/V storage KV_DTYPES, default
#            f16,f32) in PROCESSES fresh processes, and the context sweep 4K..128K in PROCESSES more (every
#            context in each); merged into kernels-webgpu-CARD.json (medians over processes, each kept)
#   torch    bench/torch_reference.py in PROCESSES fresh processes of the same run, merged: PyTorch dense fp32,
#            fp16 SDPA, its eager ClusterKV step, K-means
#   tune     bench/tune-kernels.ts: the WGSL kernels' tuning variants (and again with Dawn's robustness off)
#   tune-attention  decode attention's defaults against one knob changed at a time (tune-kernels.ts
#            TUNE_SET=attention) at 8K, 32K, 128K, heated, in PROCESSES fresh processes, merged
#            (tune-attention-webgpu-h200.json)
#   tune-last  the tuning variants after everything else (for the record; nothing depends on it)
#   tune-subgroup  the subgroup / f16 kernels' knobs and the older kernels (tune-kernels.ts TUNE_SET=subgroup),
#            each variant's output checked against the op chain, heated, one process (tune-subgroup-CARD.json)
#   probe    one quick bench process at 32K (fewer runs), and torch_reference.py --quick
# Results go to $OUT/gpu-run.tar (the device tool brings back few files), with one .txt log per step.
# CARD (default: from nvidia-smi, e.g. h100) names the result files.
# GPU_RUN_SMALL=1 shrinks every shape (a dry run on the software adapter: CLUSTERKV_WEBGPU_ADAPTER=software).
set -u
OUT=${OUT:?set OUT to the output folder}
RES=$(mktemp -d)
source "$(dirname "$0")/gpu-host-env.sh"
PROCESSES=${PROCESSES:-3}
KV_DTYPES=${KV_DTYPES:-f16,f32}
CARD=${CARD:-$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -oiE 'h100|h200|a100|l4|l40s?' | head -1 | tr 'A-Z' 'a-z')}
CARD=${CARD:-gpu}
# GPU heating before and during each kernel's samples (ms; bench/README.md: the committed H200 run had none)
HEAT_MS=${HEAT_MS:-100}
RUN_TAR=${RUN_TAR:-gpu-run.tar}
WANT="${*:-doctor parity bench torch}"
# the GPU's clocks and load through the run (the timings depend on them: bench/README.md)
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw --format=csv -lms 250 > "$RES/clocks.csv" 2>/dev/null &
CLOCKS=$!
trap 'kill $CLOCKS 2>/dev/null' EXIT
if [ "${GPU_RUN_SMALL:-0}" = 1 ]; then
  MAIN="--context 2048 --heads 8 --kv-heads 2 --head-dim 64 --clusters 26 --budgets 256,128 --runs 3 --warmup 1 --iters 3 --kmeans-runs 1"
  SWEEP="1024 4096"; TORCH_QUICK=--quick; export TUNE_SMALL=1
else
  MAIN=""
  SWEEP="4096 8192 16384 32768 65536 131072"; TORCH_QUICK=""
fi
want doctor && step doctor 60 $CKV doctor
want parity && step parity 150 $CKV parity --backend webgpu --out "$RES/parity-webgpu-$CARD.json"
if want tune; then
  step tune 200 $RUN_TS bench/tune-kernels.ts "$RES/tune.json"
  TUNE_SET=core CLUSTERKV_DAWN_TOGGLES=disable_robustness step tune-norobust 90 $RUN_TS bench/tune-kernels.ts "$RES/tune-norobust.json"
fi
if want tune-attention; then
  for p in $(seq 1 "$PROCESSES"); do
    TUNE_SET=attention TUNE_HEAT_MS=$HEAT_MS step "tune-attention-$p" 150 $RUN_TS bench/tune-kernels.ts "$RES/tune-attention-$p.json"
  done
  step tune-attention-merge 30 $RUN_TS bench/merge-tune-runs.ts "$RES/tune-attention-webgpu-$CARD.json" "$RES"/tune-attention-[0-9]*.json
fi
if want probe; then
  step probe-bench 120 $CKV bench --backend webgpu --runs 20 --kmeans-runs 2 $MAIN --out "$RES/probe-bench.json"
  step probe-torch 90 python3 bench/torch_reference.py "$RES/probe-torch.json" --quick
fi
if want bench; then
  # fresh processes: op-chain kernel times drift upward over a process's life on this host (bench/README.md)
  for p in $(seq 1 "$PROCESSES"); do
    step "bench-main-$p" 150 $CKV bench --backend webgpu --kv-dtype "$KV_DTYPES" --runs ${MAIN_RUNS:-30} --heat-ms $HEAT_MS $MAIN --out "$RES/bench-main-$p.json"
  done
  # every context of the sweep in each process (one process start per repetition)
  for p in $(seq 1 "${SWEEP_PROCESSES:-$PROCESSES}"); do
    step "bench-sweep-$p" 150 $CKV bench --backend webgpu --kv-dtype "$KV_DTYPES" --runs ${SWEEP_RUNS:-20} --warmup 5 --heat-ms $HEAT_MS $MAIN --no-main --contexts "$(tr ' ' ',' <<<"$SWEEP")" --out "$RES/bench-sweep-$p.json"
  done
  step bench-merge 60 $RUN_TS bench/merge-bench-runs.ts "$RES/kernels-webgpu-$CARD.json" "$RES"/bench-main-*.json "$RES"/bench-sweep-*.json
fi
if want torch; then
  for p in $(seq 1 "$PROCESSES"); do
    step "torch-$p" 150 python3 bench/torch_reference.py "$RES/torch-$p.json" $TORCH_QUICK
  done
  step torch-merge 30 $RUN_TS bench/merge-torch-runs.ts "$RES/torch-reference-$CARD.json" "$RES"/torch-[0-9]*.json
fi
# after everything else: nothing depends on these
want tune-subgroup && TUNE_SET=subgroup TUNE_HEAT_MS=$HEAT_MS step tune-subgroup 240 $RUN_TS bench/tune-kernels.ts "$RES/tune-subgroup-$CARD.json"
want tune-last && step tune 120 $RUN_TS bench/tune-kernels.ts "$RES/tune.json"
kill $CLOCKS 2>/dev/null
tar -C "$RES" -cf "$OUT/$RUN_TAR" .
