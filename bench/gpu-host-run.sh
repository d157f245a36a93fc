#!/usr/bin/env bash
# Everything the H200 run needs, in one device call (see bench/README.md):
#   source .gpu-host/prelude.sh && bash bench/gpu-host-run.sh [STEP...]
# Steps (default all): doctor parity bench torch sweep. Results go to $OUT/gpu-run.tar (the device tool
# brings back few files): doctor.txt, parity.json, kernels-webgpu-h200.json (+ bench.txt),
# torch-reference-h200.json, sweep-webgpu/ (a --methods all sweep of the seeded synthetic trace, to diff
# against the same sweep on wasm), and one .txt log per step.
set -u
OUT=${OUT:?set OUT to the output folder}
RES=$(mktemp -d)
CKV="node bin/clusterkv.js"
step() { # name timeout_s command...
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$RES/$name.txt" 2>&1
  local rc=$?
  echo "== $name: rc $rc in $(( $(date +%s) - t0 )) s"; tail -n 30 "$RES/$name.txt"
}
want() { [ $# -eq 0 ] || [[ " $WANT " == *" $1 "* ]]; }
WANT="${*:-doctor parity bench torch sweep}"
want doctor && step doctor 60 $CKV doctor
want parity && { step parity 120 $CKV parity --backend webgpu --json; cp "$RES/parity.txt" "$RES/parity.json"; }
if want bench; then
  # one process per measurement: kernel times drift upward over a process's life on this host (bench/README.md)
  step bench-main 120 $CKV bench --backend webgpu --out "$RES/bench-main.json"
  for T in 4096 8192 16384 32768 65536 131072; do for B in 2048 1024; do
    step "bench-$T-$B" 60 $CKV bench --backend webgpu --no-main --contexts $T --budgets $B --out "$RES/bench-$T-$B.json"
  done; done
  step bench-merge 30 tsx bench/merge-bench-runs.ts "$RES/kernels-webgpu-h200.json" "$RES/bench-main.json" "$RES"/bench-*-*.json
fi
want torch && step torch 90 python3 bench/torch_reference.py "$RES/torch-reference-h200.json"
if want sweep; then
  step synth 60 $CKV synth --out "$RES/synth-4k.safetensors" --layers 4 --heads 8 --kv-heads 2 --head-dim 64 --context 4096 --steps 16 --seed 0
  sha256sum "$RES/synth-4k.safetensors" | tee "$RES/synth-4k.sha256"
  step sweep 150 $CKV sweep "$RES/synth-4k.safetensors" --methods all --clusters 26,51,102 --budgets 128,256,512,1024 --backend webgpu --out "$RES/sweep-webgpu"
  rm -f "$RES/synth-4k.safetensors"
fi
for extra in ${GPU_RUN_EXTRA:-}; do step "$(basename "$extra" .ts)" 120 tsx "$extra"; done
tar -C "$RES" -cf "$OUT/gpu-run.tar" .
