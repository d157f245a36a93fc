# Sourced by the GPU host scripts: how to run the CLI ($CKV) and a TypeScript bench script ($RUN_TS F.ts ...)
# there. With .gpu-build/ (compiled by `npx tsc -p tsconfig.gpu.json`, for hosts whose carried bundle has no
# tsx, so that a model fits the 64 MiB the device tool moves) they run as JavaScript; otherwise through tsx.
if [ -d .gpu-build ]; then CKV="node .gpu-build/src/cli/main.js"; else CKV="node bin/clusterkv.js"; fi
RUN_TS="bash $(dirname "${BASH_SOURCE[0]}")/run-ts.sh"
