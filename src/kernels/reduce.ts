import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

export interface ReduceOptions {
  keepDims?: boolean;
  category?: Category;
}

/** Axes normalized (negative allowed), sorted, unique; all axes when omitted. */
function normalizeAxes(rank: number, axes?: readonly number[]): number[] {
  const list = axes ?? [...Array(rank).keys()];
  const out = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (out.some((a) => a < 0 || a >= rank)) throw new Error(`reduce: axes [${list}] out of range for rank ${rank}`);
  return out;
}

/**
 * A view of x with the kept axes first and the reduced axes last, plus the sizes:
 * each output element reduces one contiguous run of `inner` positions of that order.
 */
function splitAxes(x: Tensor, axes: number[]) {
  const kept = [...Array(x.rank).keys()].filter((a) => !axes.includes(a));
  const view = x.permute([...kept, ...axes]);
  const outShape = kept.map((a) => x.shape[a]);
  const inner = axes.reduce((s, a) => s * x.shape[a], 1);
  return { view, outShape, inner, outer: outShape.reduce((s, d) => s * d, 1) };
}

/**
 * WGSL of a workgroup-per-output reduction: 256 threads stride over the reduced run
 * (offsets through the strided view), then combine in workgroup memory along a fixed
 * tree, so results are bitwise reproducible. `combine` merges (value, index) pairs.
 */
function reduceWgsl(dtypeIn: DType, dtypeOut: DType, op: ReduceOp | 'argmax' | 'moments'): string {
  const init = op === 'max' || op === 'argmax' ? 'bitcast<f32>(0xff7fffffu)' : op === 'min' ? 'bitcast<f32>(0x7f7fffffu)' : '0.0';
  const better = op === 'min' ? '<' : '>';
  const accumulate =
    op === 'sum' || op === 'mean'
      ? 'acc += v;'
      : op === 'moments'
        ? 'acc += v;'
        : `if (v ${better} acc) { acc = v; idx = r; }`;
  const combine =
    op === 'sum' || op === 'mean' || op === 'moments'
      ? 'vals[t] += vals[t + s];'
      : `let o = vals[t + s]; let oi = idxs[t + s];
         if (o ${better} vals[t] || (o == vals[t] && oi < idxs[t])) { vals[t] = o; idxs[t] = oi; }`;
  return /* wgsl */ `${enables(dtypeIn, dtypeOut)}
${STRIDED_WGSL}
@group(0) @binding(1) var<storage, read_write> out: array<${dtypeOut}>;
@group(0) @binding(2) var<storage, read_write> x: array<${dtypeIn}>;
${op === 'moments' ? '@group(0) @binding(3) var<storage, read_write> out2: array<f32>;' : ''}
var<workgroup> vals: array<f32, ${WG}>;
var<workgroup> idxs: array<u32, ${WG}>;
fn tree(t: u32) {
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { ${combine} }
    workgroupBarrier();
  }
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wg.x + wg.y * groups.x;
  let inner = bitcast<u32>(P.scalars.x);
  if (row * inner >= P.n && inner > 0u) { return; }
  var acc = ${init};
  var idx = 0xffffffffu;
  for (var r = t; r < inner; r += ${WG}u) {
    let v = f32(x[offsetsOf(row * inner + r).y]);
    ${accumulate}
  }
  vals[t] = acc;
  idxs[t] = idx;
  tree(t);
  ${
    op === 'moments'
      ? `let mean = vals[0] / f32(inner);
  workgroupBarrier();
  var sq = 0.0;
  for (var r = t; r < inner; r += ${WG}u) {
    let d = f32(x[offsetsOf(row * inner + r).y]) - mean;
    sq += d * d;
  }
  vals[t] = sq;
  tree(t);
  if (t == 0u) { out[P.offsets.x + row] = mean; out2[P.offsets.z + row] = vals[0] / f32(inner); }`
      : `if (t == 0u) { out[offsetsOf(row * inner).x] = ${
          op === 'argmax' ? `${dtypeOut}(idxs[0])` : op === 'mean' ? `${dtypeOut}(vals[0] / f32(inner))` : `${dtypeOut}(vals[0])`
        }; }`
  }
}`;
}

function runReduce(x: Tensor, axes: number[], op: ReduceOp | 'argmax' | 'moments', out: Tensor, out2?: Tensor): void {
  const engine = x.engine;
  const { view, inner, outer } = splitAxes(x, axes);
  // Iterate over [outer, inner]: the output's stride along inner is 0 (one value per row).
  const iter = [...view.shape];
  // Outputs as [kept..., 1...] broadcast over the reduced axes (stride 0: one value per row).
  const rowsOf = (t: Tensor) => t.reshape([...view.shape.slice(0, view.rank - axes.length), ...axes.map(() => 1)]);
  const outViews = [out, ...(out2 ? [out2] : [])].map(rowsOf);
  const expanded = outViews.map((t) => t.expand(iter));
  const operands = [expanded[0], view, ...expanded.slice(1)];
  const key = `reduce:${op}:${x.dtype}->${out.dtype}`;
  launch(
    engine,
    { key, name: `reduce ${op}`, build: () => reduceWgsl(x.dtype, out.dtype, op) },
    [out, x, ...(out2 ? [out2] : [])],
    stridedParams(iter, operands, [u32Bits(inner)]),
    grid1d(engine, outer, 1),
  );
  for (const t of [view, ...outViews, ...expanded]) t.dispose();
}

function outputShape(x: Tensor, axes: number[], keepDims: boolean): number[] {
  return keepDims ? x.shape.map((d, a) => (axes.includes(a) ? 1 : d)) : x.shape.filter((_, a) => !axes.includes(a));
}

/** sum / mean / max / min over a set of axes (all by default), f32 accumulation, deterministic. */
export function reduce(op: ReduceOp, x: Tensor, axes?: readonly number[], options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(x.rank, axes);
  const out = Tensor.empty(x.engine, outputShape(x, ax, options.keepDims ?? false), x.dtype, options.category ?? 'activations');
  runReduce(x, ax, op, out);
  return out;
}

export const sum = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('sum', x, axes, o);
export const mean = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('mean', x, axes, o);

/** Index of the largest value along one axis (i32; ties give the first index). */
export function argmax(x: Tensor, axis: number, options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(x.rank, [axis]);
  const out = Tensor.empty(x.engine, outputShape(x, ax, options.keepDims ?? false), 'i32', options.category ?? 'activations');
  runReduce(x, ax, 'argmax', out);
  return out;
}

/** Mean and biased variance over the axes (two passes in one kernel), f32 outputs. */
export function moments(x: Tensor, axes: readonly number[], options: ReduceOptions = {}): { mean: Tensor; variance: Tensor } {
  const ax = normalizeAxes(x.rank, axes);
  const shape = outputShape(x, ax, options.keepDims ?? false);
  const m = Tensor.empty(x.engine, shape, 'f32', options.category ?? 'activations');
  const v = Tensor.empty(x.engine, shape, 'f32', options.category ?? 'activations');
  runReduce(x, ax, 'moments', m, v);
  return { mean: m, variance: v };
}
