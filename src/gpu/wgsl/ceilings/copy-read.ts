/**
 * Bandwidth ceilings measured with plain kernels in the same run as the benchmark:
 *   copy  out[i] = x[i] (vec4, grid-stride): reads and writes every byte once
 *   read  sums x (vec4, grid-stride) and writes one number per workgroup: the read ceiling that decode
 *         attention, a pure read of K and V, is held against
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferOf, outputTensor, record, storageReady } from '../runtime/runtime.js';

const WG = 256;
const GROUPS = 2048;

export function copyShader(kind: 'copy' | 'read'): string {
  // four independent vectors per thread and step: four loads in flight
  const body =
    kind === 'copy'
      ? `    out[i] = x[i];
    if (i + stride < n) { out[i + stride] = x[i + stride]; }
    if (i + 2u * stride < n) { out[i + 2u * stride] = x[i + 2u * stride]; }
    if (i + 3u * stride < n) { out[i + 3u * stride] = x[i + 3u * stride]; }`
      : `    let a = x[i];
    let b = x[min(i + stride, n - 1u)];
    let c = x[min(i + 2u * stride, n - 1u)];
    let e = x[min(i + 3u * stride, n - 1u)];
    acc += a + select(vec4<f32>(0.0), b, i + stride < n) + select(vec4<f32>(0.0), c, i + 2u * stride < n) + select(vec4<f32>(0.0), e, i + 3u * stride < n);`;
  return /* wgsl */ `
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
${kind === 'read' ? 'var<workgroup> red: array<vec4<f32>, 256>;' : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nw: vec3<u32>) {
  let stride = nw.x * ${WG}u;
  let n = P.count;
  var acc = vec4<f32>(0.0);
  for (var i = wid.x * ${WG}u + t; i < n; i += 4u * stride) {
${body}
  }
${
  kind === 'copy'
    ? ''
    : `  red[t] = acc;
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

/** Workgroups for n floats: enough for four vectors per thread, at most GROUPS (then grid-stride). */
function groupsFor(n: number): number {
  return Math.max(1, Math.min(GROUPS, Math.ceil(n / 16 / WG)));
}

/** copy: a new tensor equal to x (x.size a multiple of 4). */
export function copyWgsl(x: tf.Tensor): tf.Tensor {
  const xr = storageReady(x, 'f32');
  const out = outputTensor(x.shape, 'float32');
  record([{ code: copyShader('copy'), uniforms: [x.size / 4], buffers: [bufferOf(xr.tensor, 'f32'), out.buffer], workgroups: [groupsFor(x.size)] }]);
  xr.owned?.dispose();
  return out.tensor;
}

/** read: per-workgroup partial sums of x by components, [groups, 4] (x.size a multiple of 4); every byte of x is read once. */
export function readWgsl(x: tf.Tensor): tf.Tensor2D {
  const xr = storageReady(x, 'f32');
  const groups = groupsFor(x.size);
  const out = outputTensor<tf.Rank.R2>([groups, 4], 'float32');
  record([{ code: copyShader('read'), uniforms: [x.size / 4], buffers: [bufferOf(xr.tensor, 'f32'), out.buffer], workgroups: [groups] }]);
  xr.owned?.dispose();
  return out.tensor;
}
