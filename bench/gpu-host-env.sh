# Sourced by the GPU host scripts: how to run the CLI ($CKV) and a TypeScript bench script ($RUN_TS F.ts ...)
# there, and their step and want helpers (below). With .gpu-build/ (compiled by `npx tsc -p tsconfig.gpu.json`,
# for hosts whose carried bundle has no tsx, so that a model fits the 64 MiB the device tool moves) they run as
# JavaScript; otherwise through tsx.
if [ -d .gpu-build ]; then CKV="node .gpu-build/src/cli/main.js"; else CKV="node bin/clusterkv.js"; fi
RUN_TS="bash $(dirname "${BASH_SOURCE[0]}")/run-ts.sh"

# step NAME TIMEOUT_S COMMAND...: runs COMMAND with its output in $RES/NAME.txt, prints its exit status, time
# and last $STEP_TAIL lines (default 60), then packs $RES into $OUT/$RUN_TAR: after every step, so that a call
# cut short still returns what was done.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$RES/$name.txt" 2>&1
  local rc=$?
  echo "== $name: rc $rc in $(( $(date +%s) - t0 )) s"; grep -v "^Warning\|artificially" "$RES/$name.txt" | tail -n "${STEP_TAIL:-60}"
  tar -C "$RES" -cf "$OUT/$RUN_TAR" .
}
# want STEP: whether STEP is one of the words of $WANT
want() { [[ " $WANT " == *" $1 "* ]]; }
