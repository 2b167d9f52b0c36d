import type { Category } from '../gpu/arena.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

/**
 * Softmax (or log-softmax) along one axis of any view: a workgroup per row, three
 * passes over the row (max, sum of exp(x - max), write) combined along a fixed tree
 * in workgroup memory, f32 arithmetic for f16 data. Deterministic.
 */
export function softmax(x: Tensor, axis: number, options: { log?: boolean; category?: Category; out?: Tensor } = {}): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw new Error(`softmax: axis ${axis} out of range for [${x.shape}]`);
  const out = options.out ?? Tensor.empty(x.engine, x.shape, x.dtype, options.category ?? 'activations');
  if (out.shape.join() !== x.shape.join()) throw new Error(`softmax: out has shape [${out.shape}], expected [${x.shape}]`);
  const order = [...[...Array(x.rank).keys()].filter((d) => d !== a), a];
  const xv = x.permute(order);
  const ov = out.permute(order);
  const len = x.shape[a];
  const rows = x.size / Math.max(len, 1);
  const log = options.log ?? false;
  const key = `softmax:${log ? 'log' : 'exp'}:${x.dtype}->${out.dtype}`;
  launch(
    x.engine,
    {
      key,
      name: log ? 'log-softmax' : 'softmax',
      build: () => /* wgsl */ `${enables(x.dtype, out.dtype)}
${STRIDED_WGSL}
@group(0) @binding(1) var<storage, read_write> Y: array<${out.dtype}>;
@group(0) @binding(2) var<storage, read_write> X: array<${x.dtype}>;
var<workgroup> part: array<f32, ${WG}>;
fn combine(t: u32, useMax: bool) -> f32 {
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { part[t] = select(part[t] + part[t + s], max(part[t], part[t + s]), useMax); }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wg.x + wg.y * groups.x;
  let len = bitcast<u32>(P.scalars.x);
  if (row * len >= P.n) { return; }
  var m = bitcast<f32>(0xff800000u | (P.n & 0u));
  for (var j = t; j < len; j += ${WG}u) { m = max(m, f32(X[offsetsOf(row * len + j).y])); }
  part[t] = m;
  m = combine(t, true);
  var z = 0.0;
  for (var j = t; j < len; j += ${WG}u) { z += exp(f32(X[offsetsOf(row * len + j).y]) - m); }
  part[t] = z;
  z = combine(t, false);
  for (var j = t; j < len; j += ${WG}u) {
    let o = offsetsOf(row * len + j);
    let v = f32(X[o.y]) - m;
    Y[o.x] = ${out.dtype}(${log ? 'v - log(z)' : 'exp(v) / z'});
  }
}`,
    },
    [out, x],
    stridedParams(xv.shape, [ov, xv], [u32Bits(len)]),
    grid1d(x.engine, rows, 1),
  );
  xv.dispose();
  ov.dispose();
  return out;
}
