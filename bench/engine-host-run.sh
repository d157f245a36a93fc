#!/usr/bin/env bash
# The model runtime on the GPU host (issue 20): generate, capture-free speed, the 1B-shaped f16 engine and the
# passkey grid, all through the WebGPU engine, in one device call:
#   source .gpu-host/prelude.sh && bash bench/engine-host-run.sh
# Steps (ENGINE_STEPS picks, default all, in order):
#   doctor   clusterkv doctor --model (fit and bytes bound) for ckvlab-9m-16k at CONTEXT
#   speed    generate from a CONTEXT-token Moby Dick prompt, DECODE tokens, dense and ClusterKV B=1024 alone
#            (--no-compare), each in PROCESSES (3) fresh processes, merged (bench/engine-speed.ts: prefill and
#            decode tokens/s, ms/token, median and every process's value, the card named)
#   parity   bench/model-check.ts on the engine (f16 weights of the F16 checkpoint, f32 KV) against the committed
#            wasm run of the same checkpoint and prompt (REF), bench/compare-model-checks.ts
#   e2e-1b   a Llama-3.2-1B-shaped F16 random checkpoint (bench/random-checkpoint.ts, written to WORK once), its
#            doctor --model at 32K, then clusterkv e2e --model at 32K x 1, dense and ClusterKV B=1024, in
#            PROCESSES fresh processes, merged (bench/merge-e2e-runs.ts: ms/token, of the read ceiling, speed-up
#            against the bytes bound's)
#   e2e-8b   (not in the default list) Llama-3-8B's shape at 32K x 8: fp32 must be refused in one line naming the
#            bytes and the card's memory; f16 weights and KV (50 GB) must run, dense and ClusterKV B = 1024
#   passkey  clusterkv eval passkey with ckvlab-passkey-9m, 2K/4K/8K x 5 depths x 4 keys, full, clusterkv, quest,
#            streaming, oracle x budgets 32-512 (one context per command, one resumable folder; the wall time
#            is the sum of the three), its accuracies against study/passkey-tables.md (bench/passkey-compare.ts)
# Env: OUT (required), CKV_MODEL (default ../shared/models/ckvlab-9m-16k/hf-f16), PK_MODEL (default
# ../shared/models/ckvlab-passkey-9m/model.bin: the study's checkpoint), TOK (stories260K/tok512.bin), WORK
# (default /tmp/ckv-engine, room for the 2.5 GB checkpoint), CONTEXT (16384), DECODE (256), PROCESSES (3),
# REF (bench/results/model-webgpu-h200/model-check-wasm-16k.json), CARD (default: nvidia-smi's name).
# TINY=1: a dry run at tiny sizes (set CLUSTERKV_WEBGPU_ADAPTER=software without a GPU): CONTEXT 256, a 3-layer
# checkpoint, 512-position e2e, one 256-token passkey context; parity against a wasm run made in the same call.
# Results: $OUT/engine-run.tar (one .txt per step, the JSON reports and merges).
set -u
OUT=${OUT:?set OUT to the output folder}
M=../shared/models
CKV_MODEL=${CKV_MODEL:-$M/ckvlab-9m-16k/hf-f16}
PK_MODEL=${PK_MODEL:-$M/ckvlab-passkey-9m/model.bin}
TOK=${TOK:-$M/stories260K/tok512.bin}
WORK=${WORK:-/tmp/ckv-engine}
PROCESSES=${PROCESSES:-3}
REF=${REF:-bench/results/model-webgpu-h200/model-check-wasm-16k.json}
CARD=${CARD:-$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)}
CARD=${CARD:-unknown card}
TINY=${TINY:-0}
SUFFIX=""
if [ "$TINY" = 1 ]; then
  SUFFIX="-tiny"
  CONTEXT=${CONTEXT:-256}; DECODE=${DECODE:-16}; CKPT_FLAGS="--layers 3 --vocab 300"; E2E_CONTEXT=512; E2E_FLAGS="--steps 4 --warmup 1 --breakdown-steps 0 --ceiling-mb 4 --budgets 32"
  PK_CONTEXTS="256"; PK_GRID="--depths 0,1 --keys 1 --methods full,clusterkv,quest --budgets 32"
else
  CONTEXT=${CONTEXT:-16384}; DECODE=${DECODE:-256}; CKPT_FLAGS=""; E2E_CONTEXT=32768; E2E_FLAGS="--budgets 1024"
  PK_CONTEXTS="2048 4096 8192"; PK_GRID="--depths 0,0.25,0.5,0.75,1 --keys 4 --methods full,clusterkv,quest,streaming,oracle --budgets 32,64,128,256,512"
fi
RES=$(mktemp -d)
source "$(dirname "$0")/gpu-host-env.sh"
RUN_TAR=engine-run.tar
STEP_TAIL=${STEP_TAIL:-12}
WANT="${ENGINE_STEPS:-doctor speed parity e2e-1b passkey}"
mkdir -p "$WORK"
echo "== engine run on $CARD: context $CONTEXT, decode $DECODE, $PROCESSES processes$([ "$TINY" = 1 ] && echo ", a TINY dry run")"
GEN="$CKV generate --model $CKV_MODEL --tokenizer $TOK --text moby-dick --context $CONTEXT --steps $DECODE --backend webgpu --json"

want doctor && step doctor 120 $CKV doctor --model "$CKV_MODEL" --context "$CONTEXT"

if want speed; then
  for p in $(seq 1 "$PROCESSES"); do
    step "speed-dense-$p" 300 bash -c "$GEN > $RES/speed-dense-$p.json"
    step "speed-clusterkv-$p" 300 bash -c "$GEN --attention clusterkv --budget 1024 --no-compare > $RES/speed-clusterkv-$p.json"
  done
  list() { ls "$RES"/speed-"$1"-[0-9]*.json 2>/dev/null | paste -sd, -; }
  step speed-merge 60 $RUN_TS bench/engine-speed.ts "$RES/engine-speed.json" --card "$CARD" "dense=$(list dense)" "clusterkv=$(list clusterkv)"
fi

if want parity; then
  step parity-engine 600 $RUN_TS bench/model-check.ts --backend webgpu --model "$CKV_MODEL" --tokenizer "$TOK" --context "$CONTEXT" --steps 32 --budget 1024 --kv-dtype f32 --out "$RES/model-check-engine.json"
  if [ "$TINY" = 1 ]; then
    REF="$RES/model-check-wasm.json"
    step parity-wasm 600 $RUN_TS bench/model-check.ts --backend wasm --model "$CKV_MODEL" --tokenizer "$TOK" --context "$CONTEXT" --steps 32 --budget 1024 --out "$REF"
  fi
  step parity-compare 30 $RUN_TS bench/compare-model-checks.ts "$REF" "$RES/model-check-engine.json" --out "$RES/model-check-compare.json"
fi

if want e2e-1b; then
  L1B="$WORK/llama-3.2-1b$SUFFIX"
  [ -f "$L1B/config.json" ] || step write-1b 900 $RUN_TS bench/random-checkpoint.ts --shape llama-3.2-1b --out "$L1B" $CKPT_FLAGS
  step doctor-1b 120 $CKV doctor --model "$L1B" --context "$E2E_CONTEXT"
  for p in $(seq 1 "$PROCESSES"); do
    step "e2e-1b-$p" 600 $CKV e2e --model "$L1B" --contexts "$E2E_CONTEXT" --batches 1 $E2E_FLAGS --out "$RES/e2e-1b-$p.json"
  done
  step e2e-1b-merge 60 $RUN_TS bench/merge-e2e-runs.ts "$RES/e2e-1b.json" "$RES"/e2e-1b-[0-9]*.json
fi

if want e2e-8b; then
  step e2e-8b-fp32 120 $CKV e2e --contexts 32768 --batches 8 --budgets 1024
  step e2e-8b-f16 600 $CKV e2e --contexts 32768 --batches 8 --budgets 1024 --weights-dtype f16 --kv-dtype f16 --out "$RES/e2e-8b-f16.json"
fi

if want passkey; then
  PK="$CKV eval passkey --model $PK_MODEL --tokenizer $TOK --seed 0 $PK_GRID --out $RES/passkey --backend webgpu"
  t0=$(date +%s)
  for c in $PK_CONTEXTS; do step "passkey-$c" 600 $PK --contexts "$c" --quiet; done
  echo "== passkey: the grid in $(( $(date +%s) - t0 )) s of wall time (the steps above, summed)" | tee "$RES/passkey-wall.txt"
  # every context at once, nothing left to compute: the assembled folder and its summary
  step passkey-summary 120 $PK --contexts "$(echo $PK_CONTEXTS | tr ' ' ,)"
  step passkey-compare 60 $RUN_TS bench/passkey-compare.ts "$RES/passkey" --out "$RES/passkey-compare.json"
fi
tar -C "$RES" -cf "$OUT/$RUN_TAR" .
echo "== wrote $OUT/$RUN_TAR"
