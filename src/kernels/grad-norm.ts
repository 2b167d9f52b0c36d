import { Tensor } from '../gpu/tensor.js';
import { launch, Params } from './launch.js';
import { recordBatch, segmentBatches } from './segment-batch.js';

const WG = 256;
/** Elements each workgroup of the first pass sums (16 per thread). */
const CHUNK = WG * 16;

export interface ClipOptions {
  /** Clip the global L2 norm of the (unscaled) gradients to this; Infinity disables clipping. */
  maxNorm: number;
  /** The loss scale the gradients carry (1 without f16 loss scaling). */
  lossScale: number;
}

/**
 * Updates the optimizer `control` tensor [gradMul, skip, norm, steps] from a set of gradients,
 * entirely on the GPU and deterministically (fixed-order partial sums, no atomics):
 * norm is the global L2 norm of the unscaled gradients, gradMul = min(1, maxNorm /
 * (norm + 1e-6)) / lossScale as torch's clip_grad_norm_ after unscaling, skip = 1
 * when any gradient is inf or NaN (the f16 loss scaler then skips the step), and steps,
 * the count of steps taken, grows by one unless the step is skipped (AdamW's bias
 * correction counts taken steps only, as with PyTorch's GradScaler).
 */
export function gradientControl(grads: readonly Tensor[], control: Tensor, options: ClipOptions): void {
  if (grads.length === 0) throw new Error('gradientControl: no gradients');
  const engine = control.engine;
  if (control.dtype !== 'f32' || control.size !== 4 || !control.isContiguous()) throw new Error('gradientControl: control must be a contiguous f32 tensor of 4');
  for (const g of grads) if (g.dtype !== 'f32' || !g.isContiguous()) throw new Error('gradientControl: gradients must be contiguous f32');
  const total = grads.reduce((n, g) => n + Math.max(1, Math.ceil(g.size / CHUNK)), 0);
  const partials = Tensor.empty(engine, [total], 'f32', 'workspace');
  // Partial sums of squares, one per CHUNK of each gradient, numbered in gradient order: all
  // gradients in one dispatch per set of arena segments (segment-batch.ts).
  for (const b of segmentBatches(grads.map((g) => ({ tensors: [g] })), [partials], CHUNK, WG)) {
    recordBatch(engine, b, {
      key: 'gradnorm:partial',
      name: 'grad sum of squares',
      code: () => /* wgsl */ `
var<workgroup> sums: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  // No early return: the barriers below need every invocation (rowOf reads storage, which
  // WGSL's uniformity analysis cannot see is the same across the workgroup).
  let row = rowOf(w);
  var size = 0u;
  var start = 0u;
  if (row != ROW_NONE) { size = rowSize(row); start = chunkOf(row, w) * ${CHUNK}u + t; }
  var s = 0.0;
  for (var j = 0u; j < 16u; j++) {
    let i = start + j * ${WG}u;
    if (i < size) { let x = load0(row, i); s += x * x; }
  }
  sums[t] = s;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride >>= 1u) {
    if (t < stride) { sums[t] += sums[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u && row != ROW_NONE) { storeShared0(globalChunk(row, w), sums[0]); }
}`,
    });
    b.table.dispose();
  }
  launch(
    engine,
    {
      key: 'gradnorm:final',
      name: 'grad norm control',
      build: () => /* wgsl */ `
struct Params { total: u32, maxNorm: f32, lossScale: f32, offset: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> control: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
var<workgroup> sums: array<f32, ${WG}>;
fn finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  for (var i = t; i < P.total; i += ${WG}u) { s += partials[i]; }
  sums[t] = s;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride >>= 1u) {
    if (t < stride) { sums[t] += sums[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    let norm = sqrt(sums[0]) / P.lossScale;
    let coef = min(1.0, P.maxNorm / (norm + 1e-6));
    control[P.offset] = coef / P.lossScale;
    control[P.offset + 1u] = select(1.0, 0.0, finite(norm));
    control[P.offset + 2u] = norm;
    control[P.offset + 3u] += select(0.0, 1.0, finite(norm));
  }
}`,
    },
    [control, partials],
    new Params().u32(total).f32(Number.isFinite(options.maxNorm) ? options.maxNorm : 3.4e38, options.lossScale).u32(control.offset),
    [1, 1, 1],
  );
  partials.dispose();
}
