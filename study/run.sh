#!/usr/bin/env bash
# Reproduces the ClusterKV study (issue 6 item 5, issue 4 measurements) from scratch with the clusterkv CLI.
# Everything goes to runs/study/ (gitignored). Idempotent: traces that exist are kept, sweeps resume
# (finished cell-layers are skipped), cachesim / verify / generate outputs that exist are skipped.
#
#   study/run.sh                  # everything, sequentially
#   JOBS=2 study/run.sh           # sweeps and cachesim runs two at a time (the study used 2 cores)
#   study/run.sh traces|sweeps|cachesim|verify|generate|plots|summary|windows    # one stage (windows: not in all)
#   (summary: study/summarize.ts rewrites the generated tables of study/README.md and study/tables.md)
#   study/run.sh sweep NAME | cachesim NAME B                            # one unit of work
#
# Seeds: synthetic traces synth-8k seed 0, synth-16k seed 1; every sweep --seed 0 (ClusterKV K-means
# init, random baseline); cachesim uses the method defaults (seed 0); generate greedy (temperature 0).
set -euo pipefail
cd "$(dirname "$0")/.."
R=runs/study
M=../shared/models
BACKEND=${BACKEND:-wasm}
JOBS=${JOBS:-1}
CKV=$M/ckvlab-9m-16k/model.bin
S260=$M/stories260K/stories260K.bin
TOK=$M/stories260K/tok512.bin
BUDGETS=256,512,1024,2048
TRACES="ckv-moby-8k ckv-moby-16k s260k-moby-2k synth-8k synth-16k"
mkdir -p $R/traces $R/sweeps $R/cachesim $R/logs $R/generate

CLI="npx clusterkv"
# timed NAME cmd...: runs cmd with /usr/bin/time -v (wall, max RSS) into logs/NAME.{log,time}
timed() { local n=$1; shift; /usr/bin/time -v -o $R/logs/$n.time "$@" > $R/logs/$n.log 2>&1 || { cat $R/logs/$n.log >&2; return 1; }; }

prefill() { case $1 in ckv-moby-8k|synth-8k) echo 8192;; ckv-moby-16k|synth-16k) echo 16384;; s260k-moby-2k) echo 2048;; esac; }
# cluster counts L/160, L/80, L/40 (L = prefill tokens, rounded up)
clusters() { local L; L=$(prefill $1); echo "$(( (L+159)/160 )),$(( (L+79)/80 )),$(( (L+39)/40 ))"; }
sparse_layers() { case $1 in s260k-*) echo 2,3,4;; *) echo 2,3,4,5;; esac; }

capture() { # NAME MODEL CONTEXT [DTYPE]: Moby Dick from its start (CHAPTER 1. Loomings.), 32 teacher-forced decode steps
  local out=$R/traces/$1.safetensors
  [ -f $out ] && return 0
  timed capture-$1 $CLI capture --model $2 --tokenizer $TOK --text moby-dick --context $3 --steps 32 --dtype ${4:-F16} --out $out --backend $BACKEND
}
synth() { # NAME CONTEXT SEED (ckvlab's shape: 6 layers, 6 heads, 2 KV heads, d 64; 32 decode steps)
  local out=$R/traces/$1.safetensors
  [ -f $out ] && return 0
  timed synth-$1 $CLI synth --out $out --layers 6 --heads 6 --kv-heads 2 --head-dim 64 --context $(( $2 + 32 )) --steps 32 --seed $3
}
traces() {
  capture ckv-moby-8k $CKV 8192
  capture ckv-moby-16k $CKV 16384       # issue 4 (a): wall time, size, max RSS in logs/capture-ckv-moby-16k.time
  capture s260k-moby-2k $S260 2048 F32  # issue 4 (b): F32, so the replay check is exact (F16 storage alone gives ~2e-2)
  synth synth-8k 8192 0
  synth synth-16k 16384 1
}

sweep() { # NAME: every method, budgets x cluster counts, all layers and steps
  local n=$1 out=$R/sweeps/$1
  if [ -f $out/manifest.json ] && grep -q '"status": "complete"' $out/manifest.json; then return 0; fi
  timed sweep-$n $CLI sweep $R/traces/$n.safetensors --methods all --budgets $BUDGETS --clusters $(clusters $n) \
    --seed 0 --out $out --backend $BACKEND
}
sweeps() { printf '%s\n' $TRACES | xargs -P $JOBS -I{} "$0" sweep {}; }

cachesim() { # NAME B: clusterkv (C0 = L/80), quest pages, infllm blocks on the sparse layers;
  # policies: last-r:1 (ClusterKV's cache), and LRU / Belady with a capacity of ~2B and ~8B tokens per KV head
  # (per layer), in each method's units (clusters of ~80 tokens on average, pages of 16, blocks of 128)
  local n=$1 b=$2 out=$R/cachesim/$1-b$2
  [ -f $out/cachesim-summary.csv ] && return 0
  local pol="last-r:1" c f caps=""
  for f in 2 8; do caps="$caps $(( (f*b+79)/80 )) $(( f*b/16 )) $(( f*b/128 ))"; done
  for c in $(printf '%s\n' $caps | sort -n -u); do pol="$pol,lru:$c,belady:$c"; done
  timed cachesim-$n-b$b $CLI cachesim $R/traces/$n.safetensors --methods clusterkv,quest,infllm --budget $b \
    --policies $pol --layers $(sparse_layers $n) --out $out --backend $BACKEND
}
cachesims() { for n in $TRACES; do for b in ${BUDGETS//,/ }; do echo "$n $b"; done; done | xargs -P $JOBS -L1 "$0" cachesim; }

verify() { # stored dense outputs vs dense attention recomputed from q, k, v (src/sim/verify.ts)
  [ -f $R/verify.json ] && return 0
  timed verify npx tsx study/verify.ts $R/verify.json $R/traces/ckv-moby-8k.safetensors $R/traces/ckv-moby-16k.safetensors $R/traces/s260k-moby-2k.safetensors
}

generate() { # issue 4 (c): clusterkv B=256 on a 1K Moby Dick prompt, 64 greedy steps, vs dense; teacher-forced perplexity
  local common="--model $CKV --tokenizer $TOK --text moby-dick --context 1024 --backend $BACKEND"
  [ -f $R/logs/generate-clusterkv-b256.log ] || timed generate-clusterkv-b256 $CLI generate $common --steps 64 --attention clusterkv --budget 256 --per-step
  [ -f $R/logs/perplexity-clusterkv-b256.log ] || timed perplexity-clusterkv-b256 $CLI generate $common --steps 256 --attention clusterkv --budget 256 --perplexity
  [ -f $R/logs/perplexity-oracle-b256.log ] || timed perplexity-oracle-b256 $CLI generate $common --steps 256 --attention oracle --budget 256 --perplexity
  [ -f $R/logs/perplexity-quest-b256.log ] || timed perplexity-quest-b256 $CLI generate $common --steps 256 --attention quest --budget 256 --perplexity
}

plots() { # the standard HTML (+ PNG) figures of every sweep into runs/study/sweeps/NAME/figures; the report's PNGs (scale 1) into study/figures
  for n in $TRACES; do [ -d $R/sweeps/$n/figures ] || $CLI plot $R/sweeps/$n --png --budget 1024 > $R/logs/plot-$n.log 2>&1; done
  npx tsx study/figures.ts $R study/figures ckv-moby-16k:recall-vs-budget ckv-moby-16k:heatmap-mass-recall s260k-moby-2k:recall-vs-budget
}

summary() { npx tsx study/summarize.ts $R study/README.md; }

windows() { # the decode-window path on a real trace: window 8 (3 windows close in 32 steps), 2 clusters each
  $CLI sweep $R/traces/ckv-moby-8k.safetensors --methods oracle,clusterkv,quest,infllm --budgets 256,1024 \
    --param window=8 --param windowClusters=2 --backend $BACKEND --seed 0 --out $R/sweeps/ckv-moby-8k-window8 --quiet
}

case ${1:-all} in
  all) traces; sweeps; cachesims; verify; generate; plots; summary ;;
  traces) traces ;;
  sweeps) sweeps ;;
  sweep) sweep $2 ;;
  cachesim) if [ $# -ge 3 ]; then cachesim $2 $3; else cachesims; fi ;;
  verify) verify ;;
  generate) generate ;;
  plots) plots ;;
  summary) summary ;;
  windows) windows ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
