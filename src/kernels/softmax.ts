import type { Category } from '../gpu/arena.js';
import { isFloat, type DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, MAX_RANK } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

export interface SoftmaxOptions {
  /** log-softmax instead of softmax. */
  log?: boolean;
  /** Write into this view (any float dtype) instead of a new tensor. */
  out?: Tensor;
  /** dtype of a new output (default: the input's), e.g. f32 log-probabilities of f16 logits. */
  dtype?: DType;
  category?: Category;
}

/**
 * Threads that share one row: 1 for short rows (DFL's 16 bins: no workgroup memory, no
 * barriers, 256 rows per workgroup), up to the whole workgroup for attention rows
 * (400..6400), about 8 elements per thread in between. A function of the row length
 * only, so one shape always reduces in the same order (bitwise reproducible).
 */
export function threadsPerRow(len: number): number {
  if (len <= 32) return 1;
  return Math.min(WG, 2 ** Math.ceil(Math.log2(Math.ceil(len / 8))));
}

type Mode = 'forward' | 'backward';

/**
 * The row kernel shared by softmax and its gradient. Operands (iterated as [rows, len]
 * with the reduced axis last): 0 = output, 1 = x (forward) or y (backward), 2 = dy.
 * Each row's offsets are computed once (offsetsOf at its first element) and then
 * stepped by the operands' strides along the axis, so any view costs the same as a
 * contiguous one. ROWS = WG / TPR rows per workgroup; rows past the end still take part
 * in the barriers. Reductions run in f32 along a fixed tree: deterministic.
 *
 * forward: one online pass for (max, sum of exp(x - max)) merged as
 *   (m, z) + (m', z') = (M, z exp(m - M) + z' exp(m' - M)),   M = max(m, m'),
 *   then one pass writing exp(x - m) / z, or x - m - log z.
 * backward: S = sum(dy * y) (softmax) or sum(dy) (log-softmax), then
 *   dx = y (dy - S), or dx = dy - exp(y) S.
 */
function rowKernelWgsl(mode: Mode, log: boolean, dtypes: DType[], tpr: number): string {
  const [tOut, tX, tG] = dtypes;
  const shared = tpr > 1;
  const reduceForward = shared
    ? `pm[t] = m;
  pz[t] = z;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      let m1 = pm[t];
      let m2 = pm[t + s];
      let mm = max(m1, m2);
      pz[t] = pz[t] * exp(m1 - mm) + pz[t + s] * exp(m2 - mm);
      pm[t] = mm;
    }
    workgroupBarrier();
  }
  m = pm[t - lane];
  z = pz[t - lane];`
    : '';
  const reduceSum = shared
    ? `pz[t] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { pz[t] += pz[t + s]; }
    workgroupBarrier();
  }
  acc = pz[t - lane];`
    : '';
  const body =
    mode === 'forward'
      ? `var m = bitcast<f32>(0xff7fffffu); // lowest finite f32: an empty partial row
  var z = 0.0;
  for (var j = lane; j < len; j += TPR) {
    let v = f32(X[at.y + j * step.y]);
    if (v > m) { z = z * exp(m - v) + 1.0; m = v; } else { z += exp(v - m); }
  }
  ${reduceForward}
  let logZ = log(z);
  for (var j = lane; j < len; j += TPR) {
    let v = f32(X[at.y + j * step.y]) - m;
    Y[at.x + j * step.x] = ${tOut}(${log ? 'v - logZ' : 'exp(v) / z'});
  }`
      : `var acc = 0.0;
  for (var j = lane; j < len; j += TPR) {
    acc += ${log ? `f32(G[at.z + j * step.z])` : `f32(G[at.z + j * step.z]) * f32(X[at.y + j * step.y])`};
  }
  ${reduceSum}
  for (var j = lane; j < len; j += TPR) {
    let y = f32(X[at.y + j * step.y]);
    let g = f32(G[at.z + j * step.z]);
    Y[at.x + j * step.x] = ${tOut}(${log ? 'g - exp(y) * acc' : 'y * (g - acc)'});
  }`;
  return /* wgsl */ `${enables(...dtypes)}
${STRIDED_WGSL}
@group(0) @binding(1) var<storage, read_write> Y: array<${tOut}>;
@group(0) @binding(2) var<storage, read_write> X: array<${tX}>;
${mode === 'backward' ? `@group(0) @binding(3) var<storage, read_write> G: array<${tG}>;` : ''}
const TPR = ${tpr}u;
const ROWS = ${WG / tpr}u;
${shared ? `var<workgroup> pz: array<f32, ${WG}>;` : ''}
${shared && mode === 'forward' ? `var<workgroup> pm: array<f32, ${WG}>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let rows = bitcast<u32>(P.scalars.y);
  let row = (wg.x + wg.y * groups.x) * ROWS + t / TPR;
  let lane = t % TPR;
  let len = select(0u, bitcast<u32>(P.scalars.x), row < rows);
  let at = offsetsOf(min(row, rows - 1u) * bitcast<u32>(P.scalars.x));
  let step = vec4<u32>(strideOf(0u, ${MAX_RANK - 1}u), strideOf(1u, ${MAX_RANK - 1}u), strideOf(2u, ${MAX_RANK - 1}u), 0u);
  ${body}
}`;
}

function normalizeAxis(op: string, x: Tensor, axis: number): number {
  const a = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new Error(`${op}: axis ${axis} out of range for [${x.shape}]`);
  return a;
}

function checkFloat(op: string, t: Tensor | DType, what: string): void {
  const dtype = typeof t === 'string' ? t : t.dtype;
  if (!isFloat(dtype)) throw new Error(`${op}: ${what} must be f32 or f16, got ${dtype}`);
}

/** Launches the row kernel over `operands` (same shape), reducing along `axis`. */
function runRows(op: string, mode: Mode, log: boolean, axis: number, operands: Tensor[]): void {
  const x = operands[1];
  const len = x.shape[axis];
  if (x.size === 0) return;
  const rows = x.size / len;
  const order = [...[...Array(x.rank).keys()].filter((d) => d !== axis), axis];
  const views = operands.map((t) => t.permute(order));
  const tpr = threadsPerRow(len);
  const dtypes = operands.map((t) => t.dtype);
  launch(
    x.engine,
    { key: `softmax-rows:${mode}:${log ? 'log' : 'exp'}:${dtypes.join(',')}:${tpr}`, name: op, build: () => rowKernelWgsl(mode, log, dtypes, tpr) },
    operands,
    stridedParams(views[1].shape, views, [u32Bits(len), u32Bits(rows)]),
    grid1d(x.engine, rows, WG / tpr),
  );
  for (const v of views) v.dispose();
}

/**
 * Softmax (or log-softmax with `log`) along one axis of any view; numerically stable
 * (max-subtracted), f32 arithmetic for f16 data, deterministic.
 */
export function softmax(x: Tensor, axis: number, options: SoftmaxOptions = {}): Tensor {
  const op = options.log ? 'logSoftmax' : 'softmax';
  const a = normalizeAxis(op, x, axis);
  checkFloat(op, x, 'input');
  if (options.out) {
    if (options.out.shape.join() !== x.shape.join()) throw new Error(`${op}: out has shape [${options.out.shape}], expected [${x.shape}]`);
    checkFloat(op, options.out, 'out');
  }
  checkFloat(op, options.dtype ?? x.dtype, 'dtype');
  const out = options.out ?? Tensor.empty(x.engine, x.shape, options.dtype ?? x.dtype, options.category ?? 'activations');
  runRows(op, 'forward', options.log ?? false, a, [out, x]);
  return out;
}

export function logSoftmax(x: Tensor, axis: number, options: Omit<SoftmaxOptions, 'log'> = {}): Tensor {
  return softmax(x, axis, { ...options, log: true });
}

/**
 * Gradient w.r.t. the input of softmax (or log-softmax with `log`) from its output `y`
 * and the output gradient `gradY`: dx = y (dy - sum(dy y)), or dx = dy - exp(y) sum(dy).
 * The result has gradY's dtype unless `dtype` says otherwise.
 */
export function softmaxBackward(y: Tensor, gradY: Tensor, axis: number, options: Omit<SoftmaxOptions, 'out'> = {}): Tensor {
  const op = options.log ? 'logSoftmaxBackward' : 'softmaxBackward';
  const a = normalizeAxis(op, y, axis);
  checkFloat(op, y, 'y');
  checkFloat(op, gradY, 'gradY');
  if (gradY.shape.join() !== y.shape.join()) throw new Error(`${op}: gradY has shape [${gradY.shape}], y has [${y.shape}]`);
  const dtype = options.dtype ?? gradY.dtype;
  checkFloat(op, dtype, 'dtype');
  const gradX = Tensor.empty(y.engine, y.shape, dtype, options.category ?? 'activations');
  runRows(op, 'backward', options.log ?? false, a, [gradX, y, gradY]);
  return gradX;
}
