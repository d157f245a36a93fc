/**
 * Bandwidth ceilings measured with plain kernels in the same run as the benchmark:
 *   copy  out[i] = x[i] (vec4, grid-stride): reads and writes every byte once
 *   read  sums x (vec4, grid-stride) and writes one number per workgroup: the read ceiling that decode
 *         attention, a pure read of K and V, is held against
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferOf, outputTensor, record, storageReady } from './runtime.js';

const WG = 256;
const GROUPS = 4096;

export function copyShader(kind: 'copy' | 'read'): string {
  return /* wgsl */ `
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
${kind === 'read' ? 'var<workgroup> red: array<vec4<f32>, 256>;' : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nw: vec3<u32>) {
  let stride = nw.x * ${WG}u;
${
  kind === 'copy'
    ? `  for (var i = wid.x * ${WG}u + t; i < P.count; i += stride) { out[i] = x[i]; }`
    : `  var acc = vec4<f32>(0.0);
  for (var i = wid.x * ${WG}u + t; i < P.count; i += stride) { acc += x[i]; }
  red[t] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] += red[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { out[wid.x] = red[0]; }`
}
}
`;
}

/** copy: a new tensor equal to x (x.size a multiple of 4). */
export function copyWgsl(x: tf.Tensor): tf.Tensor {
  const xr = storageReady(x, 'f32');
  const out = outputTensor(x.shape, 'float32');
  record([{ code: copyShader('copy'), uniforms: [x.size / 4], buffers: [bufferOf(xr.tensor, 'f32'), out.buffer], workgroups: [Math.min(GROUPS, Math.ceil(x.size / 4 / WG))] }]);
  xr.owned?.dispose();
  return out.tensor;
}

/** read: per-workgroup partial sums of x by components, [groups, 4] (x.size a multiple of 4); every byte of x is read once. */
export function readWgsl(x: tf.Tensor): tf.Tensor2D {
  const xr = storageReady(x, 'f32');
  const groups = Math.min(GROUPS, Math.ceil(x.size / 4 / WG));
  const out = outputTensor<tf.Rank.R2>([groups, 4], 'float32');
  record([{ code: copyShader('read'), uniforms: [x.size / 4], buffers: [bufferOf(xr.tensor, 'f32'), out.buffer], workgroups: [groups] }]);
  xr.owned?.dispose();
  return out.tensor;
}
