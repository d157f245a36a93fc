#!/usr/bin/env bash
# One device call for issues 19 and 20 under one clock: the kernels (parity, timing, PyTorch) and the model
# runtime (engine, the 1B shape, the passkey grid). A session's device time allows about one such call, so
# every step gets a deadline from the same clock: no process starts after its step's deadline, and a slow step
# shortens the later ones instead of overrunning (bench/README.md, "The GPU call").
#
#   bash bench/gpu-call.sh [SECONDS]     (default 450; from the repository root, .gpu-build/ built)
#
# On the GPU host: `source .gpu-host/prelude.sh && bash bench/gpu-call.sh 450`, carrying .gpu-host, .gpu-build
# and .gpu-models (ckvlab-passkey-9m's hf-f16 config.json and model.safetensors in .gpu-models/ckvlab-passkey-9m/,
# stories260K's tok512.bin in .gpu-models/). Here, a dry run: GPU_RUN_SIZE=tiny CLUSTERKV_WEBGPU_ADAPTER=software.
# Everything lands in $OUT/gpu-run.tar (packed again after every step).
set -u
total=${1:-450}
size=${GPU_RUN_SIZE:-full}
# full: every step (about 450 s); short: what a session with about 300 s of call left can run; kernels: the
# kernels alone, with the context sweep and the loads-in-flight variants (about 560 s); model: the model
# runtime alone, with the passkey grid in 3 processes per context (about 500 s); quick: parity, PyTorch and the
# WGSL kernels only (about 230 s); tuning: the variants timed against the defaults that issues 19 and 20 owe
# (the attention's transposed score reduction, the engine's GEMV splits on the 1B shape in f16), with PyTorch
# and the WGSL kernels for the same call's ratios (about 560 s). KERNEL_PATHS=wgsl: the kernels
# plan times the WGSL kernels only (the op chains are the slow part of a kernel process)
plan=${GPU_CALL_PLAN:-full}
end=$((SECONDS + total))
# the reserves below are written for the plan's own length; a shorter call scales them down alike
case $plan in short) nominal=300 ;; kernels) nominal=560 ;; model) nominal=500 ;; quick) nominal=230 ;; tuning) nominal=560 ;; *) nominal=450 ;; esac
scaled() { echo $(($1 * total / nominal)); }
# parity's own limit (the quick plan keeps it short)
parity_s=$(scaled 90); [ "$plan" = quick ] && parity_s=45
# seconds left on the clock after keeping `reserve` for the steps after this one (at least 1)
left() { local t=$((end - SECONDS - $1)); echo $((t > 1 ? t : 1)); }
cli="node .gpu-build/src/cli/main.js"
driver="node .gpu-build/bench/run.js"
results=$(mktemp -d)
tarball=${OUT:-/tmp}/gpu-run.tar
card=$($driver card)
models=${GPU_MODELS:-.gpu-models}
model=()
[ "$size" = full ] && model=(--model "$models/ckvlab-passkey-9m" --tokenizer "$models/tok512.bin")
common=(--size "$size" --out "$results" --tar "$tarball")
export CLUSTERKV_PROGRESS=off
pack() { tar -C "$results" -cf "$tarball" .; }
# step NAME RESERVE TIMEOUT SUITE ARGS...: a driver suite with its deadline, or a line saying it had no time
step() {
  local name=$1 reserve; reserve=$(scaled "$2"); local timeout=$3; shift 3
  local deadline; deadline=$(left "$reserve")
  if [ "$deadline" -gt 5 ]; then
    echo "== $name at $SECONDS s (deadline $deadline s)"
    $driver "$@" "${common[@]}" --deadline-s "$deadline" --timeout-s "$timeout"
  else
    echo "== $name: no time left"
  fi
  pack
}
{
  echo "== card $card, size $size, plan $plan, $total s"
  timeout 30 $cli doctor | tee "$results/doctor-$card.txt"
  timeout "$parity_s" $cli parity --backend webgpu --out "$results/parity-webgpu-$card.json" > "$results/parity-webgpu-$card.txt" 2>&1
  tail -4 "$results/parity-webgpu-$card.txt"
  pack
  if [ "$plan" = short ]; then
    # what 300 s allow: the engine first (never measured on a GPU), then the kernels and PyTorch in the same
    # call, then the passkey grid at 2K only; no 1B shape
    step engine 190 45 engine "${model[@]}"
    step kernels 75 60 kernels --runs 8 --heat-ms 50
    step torch 50 40 torch
    step passkey 3 "$(left 3)" passkey "${model[@]}" --contexts 2048
  elif [ "$plan" = kernels ]; then
    # PyTorch (its context sweep too) first; then the 32K kernels in 3 processes; then the context sweep 4K-128K
    # (its processes run one per context first, so a short call still gets every context once), and what is
    # left for the loads-in-flight variants (one process: a tuning record, not a figure)
    step torch 470 60 torch
    step kernels 120 90 kernels --runs 10 ${KERNEL_PATHS:+--paths "$KERNEL_PATHS"}
    step contexts 15 200 contexts --runs 10 ${KERNEL_PATHS:+--paths "$KERNEL_PATHS"}
    step prefetch 1 "$(left 1)" tune --set prefetch --processes 1
  elif [ "$plan" = quick ]; then
    # the least that checks a kernel change on a GPU: parity, PyTorch, the WGSL kernels in 3 processes
    step torch 150 45 torch
    step kernels 2 80 kernels --runs 10 --paths wgsl
  elif [ "$plan" = tuning ]; then
    # PyTorch and the WGSL kernels at the defaults first (the ratios), then each tune set in 3 processes:
    # the score reduction (not yet run on a GPU; the prefetch set, of the same size, took ~75 s a process on
    # the H100), the 1B shape's GEMV splits with f16 weights
    step torch 420 45 torch
    step kernels 330 80 kernels --runs 10 --paths wgsl
    step reduction 90 160 tune --set reduction
    step gemv-1b 1 "$(left 1)" tune --set gemv --model-shape llama-3.2-1b --weights f16
  elif [ "$plan" = model ]; then
    # the model runtime: the engine, the passkey grid in 3 fresh processes per context, the 1B shape
    step engine 330 60 engine "${model[@]}"
    step passkey 60 150 passkey "${model[@]}" --processes 3
    step engine-1b 5 "$(left 5)" engine-1b --work /tmp/ckv-1b
  else
    # PyTorch first: it is short (~25 s) and its ratios need the kernels of the same call. On the H100 the
    # kernels took ~235 s (3 processes), the engine ~20 s, the passkey grid ~80 s, the 1B shape ~40 s
    step torch 380 40 torch
    step kernels 150 90 kernels --runs 10
    step engine 130 60 engine "${model[@]}"
    step passkey 45 150 passkey "${model[@]}"
    step engine-1b 5 "$(left 5)" engine-1b --work /tmp/ckv-1b
  fi
  echo "== done at $SECONDS s, $(left 0) s left"
} 2>&1 | grep -v 'artificially reduced' | tee "$results/log.txt"
pack
tar -tvf "$tarball" | sort -k3 -n | tail -3
