#!/usr/bin/env bash
# The passkey study (issue 14): retrieval accuracy under a token budget on ckvlab-passkey-9m, and ClusterKV's
# cluster scoring (centroid vs Quest's bound) at 80/40/20 tokens per cluster, on passkey accuracy and on
# attention recall of a ckvlab-9m-16k trace. Everything goes to $R (default runs/study/passkey, gitignored).
# Every stage resumes (finished document-cells and cell-layers are skipped), so stages can be re-run to
# grow a grid: `KEYS=4 study/passkey.sh methods` after `KEYS=1 ...` computes only keys 1..3.
#
#   study/passkey.sh                  # every stage, in order (wall times in $R/logs/*.time)
#   study/passkey.sh methods          # every method at budgets 32..512, contexts 2K/4K/8K, 5 depths, KEYS keys
#   study/passkey.sh scoring          # clusterkv scoring x tokensPerCluster and quest, SCORING_CONTEXTS, KEYS keys
#   study/passkey.sh trace|sweep      # the 4K ckvlab-9m-16k Moby Dick trace; its scoring x tokensPerCluster sweep
#   study/passkey.sh plots|summary    # figures (HTML + study/figures PNGs); the tables of study/README.md
#
# Issue 21 (every method including InfiniGen, clusterkv-refine and the -topp wrappers, on
# ckvlab-passkey-9m-32k, which retrieves densely at 1K-16K; the stages above are issue 14's, on ckvlab-passkey-9m):
#   CONTEXTS=2048,4096,8192 KEYS=2 study/passkey.sh methods32k   # every method at budgets 32..512, 5 depths
#   CONTEXTS=16384 KEYS=2 study/passkey.sh methods32k            # (grow a context's keys by re-running with more)
#   KEYS=2 study/passkey.sh scoring32k   # clusterkv and clusterkv-refine scoring x tokensPerCluster, quest, at 8K
#   study/passkey.sh recall              # mass recall of every method on the ckvlab-9m-16k 8K/16K Moby Dick traces:
#                                        # study/run.sh's traces and its sweeps of ckv-moby-8k, ckv-moby-16k
#   study/passkey.sh issue21             # the grid the study ran, in its order (events in $R/logs/driver-issue21.log)
#
# Seeds: --seed 0 everywhere (document keys and filler offsets, ClusterKV K-means init, random).
# Runs with nice -n 10 (the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-runs/study/passkey}
M=../shared/models
BACKEND=${BACKEND:-wasm}
KEYS=${KEYS:-4}
SCORING_CONTEXTS=${SCORING_CONTEXTS:-2048,4096,8192}
PK=$M/ckvlab-passkey-9m/model.bin
PK32=$M/ckvlab-passkey-9m-32k/model.bin
CONTEXTS=${CONTEXTS:-2048,4096,8192}
CKV=$M/ckvlab-9m-16k/model.bin
TOK=$M/stories260K/tok512.bin
BUDGETS=32,64,128,256,512
DEPTHS=0,0.25,0.5,0.75,1
mkdir -p $R/logs $R/traces
CLI="nice -n 10 npx tsx src/cli/main.ts"
# timed NAME cmd...: wall time and max RSS in logs/NAME.time, output appended to logs/NAME.log
timed() { local n=$1; shift; /usr/bin/time -v -o $R/logs/$n.time -a "$@" >> $R/logs/$n.log 2>&1 || { tail -5 $R/logs/$n.log >&2; return 1; }; }

methods() { # every method, ClusterKV at its defaults (centroid scoring, 80 tokens per cluster)
  timed methods-k$KEYS $CLI eval passkey --model $PK --tokenizer $TOK --contexts 2048,4096,8192 --depths $DEPTHS --keys $KEYS \
    --seed 0 --methods all --budgets $BUDGETS --out $R/methods --backend $BACKEND
}

scoring() { # ClusterKV's scoring x tokens per cluster against Quest (quest repeated here so the folder stands alone)
  timed scoring-k$KEYS-${SCORING_CONTEXTS//,/-} $CLI eval passkey --model $PK --tokenizer $TOK --contexts $SCORING_CONTEXTS --depths $DEPTHS --keys $KEYS \
    --seed 0 --methods full,clusterkv,quest --budgets $BUDGETS --param scoring=centroid,bound --param tokensPerCluster=80,40,20 \
    --out $R/scoring --backend $BACKEND
}

trace() { # a 4K Moby Dick trace of ckvlab-9m-16k (the natural-text model), 32 teacher-forced decode steps
  [ -f $R/traces/ckv-moby-4k.safetensors ] && return 0
  timed capture-ckv-moby-4k $CLI capture --model $CKV --tokenizer $TOK --text moby-dick --context 4096 --steps 32 --dtype F16 \
    --out $R/traces/ckv-moby-4k.safetensors --backend $BACKEND
}

sweep() { # attention recall of the same variants on that trace (sparse layers 2..5)
  timed sweep-ckv-moby-4k $CLI sweep $R/traces/ckv-moby-4k.safetensors --methods oracle,clusterkv,quest --budgets $BUDGETS \
    --param scoring=centroid,bound --param tokensPerCluster=80,40,20 --layers 2,3,4,5 --seed 0 --out $R/sweep-ckv-moby-4k --backend $BACKEND --quiet
}

methods32k() { # issue 21: every method of the registry (--methods all), ClusterKV at its defaults, CONTEXTS
  timed methods32k-${CONTEXTS//,/-}-k$KEYS $CLI eval passkey --model $PK32 --tokenizer $TOK --contexts $CONTEXTS --depths $DEPTHS --keys $KEYS \
    --seed 0 --methods all --budgets $BUDGETS --out $R/methods32k --backend $BACKEND
}

scoring32k() { # issue 21: ClusterKV's scoring x tokens per cluster at 8K, with token refinement over the same clusters, and quest
  timed scoring32k-c8192-k$KEYS $CLI eval passkey --model $PK32 --tokenizer $TOK --contexts 8192 --depths $DEPTHS --keys $KEYS \
    --seed 0 --methods full,clusterkv,clusterkv-refine,quest --budgets $BUDGETS --param scoring=centroid,bound --param tokensPerCluster=80,40,20 \
    --out $R/scoring32k --backend $BACKEND
}

recall() { # issue 21: mass recall on ckvlab-9m-16k's 8K and 16K traces, exactly as study/run.sh captures and sweeps them
  study/run.sh traces
  study/run.sh sweep ckv-moby-8k
  study/run.sh sweep ckv-moby-16k
}

# event NAME: a line "NAME <ISO time>" in the issue-21 driver log (the summary sums its running spans)
event() { echo "$1 $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> $R/logs/driver-issue21.log; }

issue21() { # the grid that ran for issue 21, in its order; re-running resumes every stage
  event start
  CONTEXTS=2048,4096,8192 KEYS=2 methods32k; event methods32k-2k-8k-k2
  CONTEXTS=16384 KEYS=1 methods32k; event methods32k-16k-k1
  KEYS=2 scoring32k; event scoring32k-k2
  recall; event recall
  CONTEXTS=16384 KEYS=2 methods32k; event methods32k-16k-k2
  CONTEXTS=2048,4096,8192 KEYS=4 methods32k; event methods32k-2k-8k-k4
  KEYS=4 scoring32k; event scoring32k-k4
  event end
}

plots() {
  for d in methods scoring methods32k scoring32k; do [ -f $R/$d/manifest.json ] && npx tsx src/cli/main.ts plot $R/$d > $R/logs/plot-$d.log 2>&1; done
  npx tsx study/passkey-figures.ts $R study/figures
  # issue 21's recall stage: every method on the 8K/16K traces, as study/figures/passkey21-ckv-moby-*.png (study/run.sh's
  # own ckv-moby-16k figures are issue 9's, of the methods of then, and stay as committed)
  local S; S=$(dirname $R); rm -rf $R/figures21
  if [ -f $S/sweeps/ckv-moby-8k/results.arrow ] && [ -f $S/sweeps/ckv-moby-16k/results.arrow ]; then
    npx tsx study/figures.ts $S $R/figures21 ckv-moby-8k:recall-vs-budget ckv-moby-16k:recall-vs-budget
    for f in $R/figures21/*.png; do cp $f study/figures/passkey21-$(basename $f); done
  fi
}

summary() { npx tsx study/passkey-summary.ts $R study/README.md; }

case ${1:-all} in
  all) methods; scoring; trace; sweep; plots; summary ;;
  methods) methods ;;
  scoring) scoring ;;
  trace) trace ;;
  sweep) trace; sweep ;;
  plots) plots ;;
  summary) summary ;;
  methods32k) methods32k ;;
  scoring32k) scoring32k ;;
  recall) recall ;;
  issue21) issue21 ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
