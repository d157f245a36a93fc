#!/usr/bin/env bash
# Runs a TypeScript script of this repository: its compiled copy in .gpu-build/ when there is one (GPU hosts
# without tsx, tsconfig.gpu.json), else through tsx.   bash bench/run-ts.sh bench/X.ts ARGS...
f=$1; shift
if [ -f ".gpu-build/${f%.ts}.js" ]; then exec node ".gpu-build/${f%.ts}.js" "$@"; else exec tsx "$f" "$@"; fi
