#!/usr/bin/env bash
# The end-to-end decode benchmark on the GPU host, in one device call (bench/README.md, "End to end"):
#   source .gpu-host/prelude.sh && bash bench/e2e-gpu-host-run.sh [REPEATS]
# Every (context, batch) runs REPEATS times (default 3), each in a fresh process that times dense and
# ClusterKV at every budget side by side; repetitions are the outer loop, so a run cut short by the
# deadline still has every configuration at least once. A process that fails or times out is recorded and
# the rest go on. Results: $OUT/e2e-run.tar (e2e-webgpu-h200.json, the merged report for bench/results/;
# table.md; one .json and .txt per process).
# Env: E2E_CONTEXTS ("32768 16384 8192"), E2E_BATCHES ("8 1"), E2E_BUDGETS (1024,2048), E2E_STEPS (16),
# E2E_DEADLINE_S (440: no new process starts after this many seconds), E2E_PROC_TIMEOUT_S (100),
# E2E_EXTRA (more `clusterkv e2e` flags).
set -u
source "$(dirname "$0")/gpu-host-env.sh"
OUT=${OUT:?set OUT to the output folder}
REPEATS=${1:-3}
RES=$(mktemp -d)
CONTEXTS=${E2E_CONTEXTS:-"32768 16384 8192"}
BATCHES=${E2E_BATCHES:-"8 1"}
BUDGETS=${E2E_BUDGETS:-1024,2048}
STEPS=${E2E_STEPS:-16}
DEADLINE=${E2E_DEADLINE_S:-440}
PROC_TIMEOUT=${E2E_PROC_TIMEOUT_S:-100}
T0=$(date +%s)
: > "$RES/failures.tsv"
for rep in $(seq 1 "$REPEATS"); do
  for T in $CONTEXTS; do
    for B in $BATCHES; do
      name="e2e-$T-$B-$rep"
      if [ $(( $(date +%s) - T0 )) -ge "$DEADLINE" ]; then
        printf '%s\tnot started: past the %s s deadline\n' "$name" "$DEADLINE" >> "$RES/failures.tsv"; continue
      fi
      t=$(date +%s)
      # shellcheck disable=SC2086
      timeout "$PROC_TIMEOUT" $CKV e2e --contexts "$T" --batches "$B" --budgets "$BUDGETS" --steps "$STEPS" ${E2E_EXTRA:-} --out "$RES/$name.json" > "$RES/$name.txt" 2>&1
      rc=$?
      echo "== $name: rc $rc in $(( $(date +%s) - t )) s"
      grep -E "ms/token|clustering|ceiling|failed|rror" "$RES/$name.txt" | grep -v "^|" | tail -n 8
      if [ $rc -ne 0 ] && [ ! -s "$RES/$name.json" ]; then
        printf '%s\trc %s: %s\n' "$name" "$rc" "$(grep -v '^Warning' "$RES/$name.txt" | tail -n 1 | tr '\t' ' ')" >> "$RES/failures.tsv"
      fi
    done
  done
done
shopt -s nullglob
jsons=("$RES"/e2e-*-*-*.json)
$RUN_TS bench/merge-e2e-runs.ts "$RES/e2e-webgpu-h200.json" --failures "$RES/failures.tsv" "${jsons[@]}" | tee "$RES/table.md"
echo "== total $(( $(date +%s) - T0 )) s"
tar -C "$RES" -cf "$OUT/e2e-run.tar" .
