/**
 * Suite torch: bench/torch_reference.py (PyTorch's fp32 dense attention, fp16 SDPA, its own eager ClusterKV
 * step, gathered sparse attention and K-means, timed with CUDA events) in fresh processes of the same GPU run
 * as the kernel suites, so that every ratio against PyTorch comes from one card. Needs python3 with torch and
 * CUDA (the GPU host has them; not a project dependency). Sizes small and tiny pass --quick (two contexts,
 * few runs).
 */
import path from 'node:path';
import { torchKind } from '../../src/sim/bench/torch-file.js';
import { repoRoot, type Suite } from '../suite.js';

export const torchSuite: Suite = {
  name: 'torch',
  description: 'PyTorch references on the same GPU: fp32 dense, fp16 SDPA, eager ClusterKV step, gathered sparse attention, K-means (bench/torch_reference.py; needs torch with CUDA)',
  processes: 3,
  kind: torchKind,
  timeoutS: 150,
  options: [['--python <command>', 'the Python with torch', 'python3']],
  jobs: (run) => [{ name: 'torch', argv: [String(run.options.python), path.join(repoRoot, 'bench', 'torch_reference.py'), '{out}', ...(run.size === 'full' ? [] : ['--quick'])], env: { PYTHONUNBUFFERED: '1' } }],
};
