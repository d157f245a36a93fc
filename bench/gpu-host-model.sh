#!/usr/bin/env bash
# Real models on the GPU host through WebGPU (issue 11, items 1, 2 and 4), in one device call:
#   source .gpu-host/prelude.sh && bash bench/gpu-host-model.sh MODEL TOKENIZER REFS [CONTEXT]
# MODEL: ckvlab-9m-16k as a Hugging Face folder (hf-f16; the wasm references must come from the same one);
# REFS: a folder with the wasm runs made on another machine: model-check-wasm-16k.json (bench/model-check.ts)
# and capture-wasm-16k.digest.json (bench/trace-digest.ts of a wasm capture). Steps:
#   generate   clusterkv generate --backend webgpu, dense and ClusterKV B = 1024 side by side (the CLI's output)
#   check      bench/model-check on webgpu (ids, top-1/top-2 gaps, prefill and decode tok/s) in PROCESSES (3)
#              fresh processes, each compared with the wasm run (same tokens, or the first divergence with its
#              logit gap), their tok/s merged (model-check-speed.ts: median and each process's value)
#   capture    clusterkv capture --backend webgpu, its digest compared with the wasm capture's
# MODEL_STEPS picks steps (default: doctor generate check capture).
# Runs compiled JavaScript (.gpu-build/, tsconfig.gpu.json) when present, else the TypeScript through tsx.
# Results: $OUT/model-run.tar (one .txt per step, the JSON reports, the comparisons).
set -u
OUT=${OUT:?set OUT to the output folder}
MODEL=${1:?model folder}
TOK=${2:?tokenizer}
REFS=${3:?folder of the wasm references}
CONTEXT=${4:-16384}
RES=$(mktemp -d)
source "$(dirname "$0")/gpu-host-env.sh"
RUN_TAR=model-run.tar
STEP_TAIL=12
WANT="${MODEL_STEPS:-doctor generate check capture}"
PROCESSES=${PROCESSES:-3}
want doctor && step doctor 60 $CKV doctor
want generate && step generate 150 $CKV generate --model "$MODEL" --tokenizer "$TOK" --text moby-dick --context "$CONTEXT" --steps 32 --attention clusterkv --budget 1024 --backend webgpu
if want check; then
  for p in $(seq 1 "$PROCESSES"); do
    step "check-$p" 180 $RUN_TS bench/model-check.ts --backend webgpu --model "$MODEL" --tokenizer "$TOK" --context "$CONTEXT" --steps 32 --budget 1024 --out "$RES/model-check-webgpu-16k-$p.json"
    step "check-compare-$p" 30 $RUN_TS bench/compare-model-checks.ts "$REFS/model-check-wasm-16k.json" "$RES/model-check-webgpu-16k-$p.json" --out "$RES/model-check-compare-$p.json"
  done
  step check-speed 30 $RUN_TS bench/model-check-speed.ts "$RES/model-speed-webgpu-16k.json" "$RES"/model-check-webgpu-16k-[0-9]*.json
fi
if want capture; then
  step capture 150 $CKV capture --model "$MODEL" --tokenizer "$TOK" --text moby-dick --context "$CONTEXT" --steps 16 --dtype F32 --out "$RES/capture-webgpu.safetensors" --backend webgpu
  step digest 60 $RUN_TS bench/trace-digest.ts "$RES/capture-webgpu.safetensors" "$RES/capture-webgpu-16k.digest.json"
  rm -f "$RES/capture-webgpu.safetensors"
  step digest-compare 30 $RUN_TS bench/trace-digest.ts --compare "$REFS/capture-wasm-16k.digest.json" "$RES/capture-webgpu-16k.digest.json" --tolerance 1e-3
fi
tar -C "$RES" -cf "$OUT/model-run.tar" .
