import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { broadcastShapes, distinctBindings, enables, grid1d, launch, linearIndexWgsl, MAX_RANK, Params, rowStrides } from './launch.js';
import { MAX_OPERANDS, STRIDED_WGSL, stridedParams } from './strided.js';

const WG = 256;

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'reciprocal' | 'sigmoid' | 'silu' | 'relu' | 'abs' | 'square';
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | CompareOp;

/** Each op as a WGSL f32 expression over x0, x1, ... (operands are converted to f32 whatever their storage dtype). */
const UNARY: Record<UnaryOp, string> = {
  neg: '-x0',
  exp: 'exp(x0)',
  log: 'log(x0)',
  sqrt: 'sqrt(x0)',
  rsqrt: 'inverseSqrt(x0)',
  reciprocal: '1.0 / x0',
  sigmoid: 'sigmoidf(x0)',
  silu: 'siluf(x0)',
  relu: 'max(x0, 0.0)',
  abs: 'abs(x0)',
  square: 'x0 * x0',
};

const BINARY: Record<BinaryOp, string> = {
  add: 'x0 + x1',
  sub: 'x0 - x1',
  mul: 'x0 * x1',
  div: 'x0 / x1',
  pow: 'powf(x0, x1)',
  maximum: 'max(x0, x1)',
  minimum: 'min(x0, x1)',
  // Comparisons give 1 or 0 converted to the output dtype (see ElementwiseOptions.outDtype).
  eq: 'select(0.0, 1.0, x0 == x1)',
  ne: 'select(0.0, 1.0, x0 != x1)',
  lt: 'select(0.0, 1.0, x0 < x1)',
  le: 'select(0.0, 1.0, x0 <= x1)',
  gt: 'select(0.0, 1.0, x0 > x1)',
  ge: 'select(0.0, 1.0, x0 >= x1)',
};

/**
 * Helpers an expression may call (other kernels include them too). Everything runs in f32,
 * so f16 storage never overflows inside exp.
 */
export const HELPERS_WGSL = /* wgsl */ `
fn sigmoidf(x: f32) -> f32 {
  // exp of a non-positive argument only: no overflow for any |x|.
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn siluf(x: f32) -> f32 { return x * sigmoidf(x); }
/** d silu(x) / dx = s (1 + x (1 - s)), s = sigmoid(x). */
fn siluGradf(x: f32) -> f32 {
  let s = sigmoidf(x);
  return s * (1.0 + x * (1.0 - s));
}
// A NaN made at run time (a NaN constant expression is a shader-creation error).
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn powf(a: f32, b: f32) -> f32 {
  // Like torch.pow: a negative base takes the parity of an integer exponent, else NaN.
  let m = pow(abs(a), b);
  let integer = b == trunc(b);
  let odd = integer && abs(b) < 16777216.0 && (i32(b) & 1) == 1;
  let negative = select(bitcast<f32>(NAN_BITS), select(m, -m, odd), integer);
  return select(select(negative, m, a >= 0.0), 1.0, b == 0.0);
}
/**
 * log(1 + x) for x >= 0, to f32 precision also for tiny x (where log(1.0 + x) loses x, and
 * a GPU's log near 1 is only accurate to about 2^-21 absolute): 2 atanh(z), z = x / (2 + x),
 * as its odd series up to z^15 (relative error below 2e-9 for z <= 1/3, i.e. x <= 1).
 */
fn log1pf(x: f32) -> f32 {
  if (x > 1.0) { return log(1.0 + x); }
  let z = x / (2.0 + x);
  let z2 = z * z;
  var s = 1.0 / 15.0;
  for (var k = 13.0; k > 0.0; k -= 2.0) { s = s * z2 + 1.0 / k; }
  return 2.0 * z * s;
}
/** Binary cross-entropy of sigmoid(x) against target t, from the logit (torch's stable form). */
fn bceWithLogitsf(x: f32, t: f32) -> f32 { return max(x, 0.0) - x * t + log1pf(exp(-abs(x))); }`;

export interface ElementwiseOptions {
  /**
   * Write into this existing view (e.g. a channel slice of a concat buffer) instead of a
   * new tensor. It may be one of the inputs (in place) or a view of the same storage
   * that does not overlap the inputs; partial overlaps are rejected.
   */
  out?: Tensor;
  /**
   * Output dtype. Default: f32 if any tensor operand is f32, else f16 if any is f16, else
   * the first operand's dtype. Comparisons write 1/0 in it: a float 0/1 mask by default
   * (multiplies straight into gradients), or pass 'u32' for an integer mask.
   */
  outDtype?: DType;
  category?: Category;
}

/** Default output dtype of an op over these tensors: f32 wins over f16 wins over integers. */
function resultDtype(tensors: readonly Tensor[]): DType {
  if (tensors.some((t) => t.dtype === 'f32')) return 'f32';
  if (tensors.some((t) => t.dtype === 'f16')) return 'f16';
  return tensors[0].dtype;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return Math.abs(a);
}

/**
 * Whether two views of one storage may share an element. Exact for the cases that occur:
 * identical views are handled by the caller; disjoint address ranges; and views whose
 * unit-stride axis spans disjoint windows modulo the other strides (channel slices of
 * one NHWC buffer). Anything else counts as overlapping.
 */
function mayOverlap(a: Tensor, b: Tensor): boolean {
  const range = (t: Tensor) => {
    let hi = t.offset;
    t.shape.forEach((d, i) => (hi += (d - 1) * t.strides[i]));
    return [t.offset, hi];
  };
  const [alo, ahi] = range(a);
  const [blo, bhi] = range(b);
  if (ahi < blo || bhi < alo) return false;
  // Residue windows [offset % p, + inner) where p is the gcd of the outer strides.
  const window = (t: Tensor) => {
    const axes = t.shape.map((d, i) => i).filter((i) => t.shape[i] > 1);
    const innerAxis = axes.find((i) => t.strides[i] === 1);
    const inner = innerAxis === undefined ? 1 : t.shape[innerAxis];
    const pitch = axes.filter((i) => i !== innerAxis).reduce((g, i) => gcd(g, t.strides[i]), 0);
    return { inner, pitch };
  };
  const wa = window(a);
  const wb = window(b);
  const p = gcd(wa.pitch, wb.pitch);
  if (p === 0) return true;
  const sa = a.offset % p;
  const sb = b.offset % p;
  if (sa + wa.inner > p || sb + wb.inner > p) return true;
  return !(sa + wa.inner <= sb || sb + wb.inner <= sa);
}

function sameView(a: Tensor, b: Tensor): boolean {
  return a.offset === b.offset && a.shape.join() === b.shape.join() && a.strides.join() === b.strides.join();
}

/**
 * Merges adjacent axes that every operand walks contiguously (and drops size-1 axes), so
 * [N,H,W,C] + [C] runs as a 2-D problem. Returns per operand its strides over the merged
 * shape (0 on broadcast axes).
 */
function coalesce(shape: readonly number[], operands: readonly Tensor[]): { shape: number[]; strides: number[][] } {
  const rank = shape.length;
  const full = operands.map((t) =>
    shape.map((d, i) => {
      const k = i - (rank - t.rank);
      return k < 0 || t.shape[k] === 1 ? 0 : t.strides[k];
    }),
  );
  const outShape: number[] = [];
  const outStrides: number[][] = operands.map(() => []);
  for (let i = 0; i < rank; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && full.every((s, k) => outStrides[k][last] === s[i] * shape[i])) {
      outShape[last] *= shape[i];
      full.forEach((s, k) => (outStrides[k][last] = s[i]));
    } else {
      outShape.push(shape[i]);
      full.forEach((s, k) => outStrides[k].push(s[i]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

type Path = 'vec4' | 'rows' | 'strided';

/**
 * The one elementwise kernel: `expr` (a WGSL f32 expression over x0, x1, ... in `inputs`
 * order) applied with numpy broadcasting to up to three tensor views and up to four
 * scalars. Three code paths, chosen from the layouts only:
 *  - vec4: every tensor contiguous with the output's shape, sizes and offsets multiples
 *    of 4: 4 elements per thread through vec4 loads/stores, no index arithmetic;
 *  - rows: [rows, C] data (C a multiple of 4) whose operands are each evenly spaced rows of
 *    unit-stride channels (whole tensors, or channel slices of a concat buffer) or a
 *    per-channel vector [C] broadcast along the rows (BatchNorm's affine): 4 channels per
 *    thread through vec4 loads/stores, one division per 4 elements (row pitch 0 for a vector);
 *  - strided: anything else. Axes are merged first, so contiguous operands become one
 *    axis (no division at all) and [N,H,W,C] + [C] becomes [N*H*W, C] (one division).
 */
export function elementwise(expr: string, inputs: readonly (Tensor | number)[], options: ElementwiseOptions = {}): Tensor {
  const tensors = inputs.filter((x): x is Tensor => typeof x !== 'number');
  const scalarCount = inputs.length - tensors.length;
  if (tensors.length === 0) throw new Error(`elementwise ${expr}: at least one operand must be a tensor`);
  if (tensors.length > MAX_OPERANDS - 1 || scalarCount > 4) {
    throw new Error(`elementwise ${expr}: at most ${MAX_OPERANDS - 1} tensor operands and 4 scalars, got ${tensors.length} and ${scalarCount}`);
  }
  const engine = tensors[0].engine;
  const shape = broadcastShapes(...tensors.map((t) => t.shape));
  if (options.out && options.outDtype && options.out.dtype !== options.outDtype) {
    throw new Error(`elementwise ${expr}: out is ${options.out.dtype} but outDtype is ${options.outDtype}`);
  }
  const out = options.out ?? Tensor.empty(engine, shape, options.outDtype ?? resultDtype(tensors), options.category ?? 'activations');
  if (out.shape.join() !== shape.join()) {
    throw new Error(`elementwise ${expr}: out has shape [${out.shape}], operands [${tensors.map((t) => t.shape).join('], [')}] broadcast to [${shape}]`);
  }
  for (const t of tensors) {
    if (t.storage === out.storage && !sameView(t, out) && mayOverlap(t, out)) {
      throw new Error(`elementwise ${expr}: an input [${t.shape}] overlaps the output [${out.shape}] without being the same view`);
    }
  }
  // Operands sharing a storage (x * x, in place, slices of one buffer) are bound once:
  // WebGPU rejects two writable bindings of one buffer range in a dispatch.
  const operands = [out, ...tensors];
  const { bound, slot: bindingOf } = distinctBindings(`elementwise ${expr}`, operands);

  const n = out.size;
  const channels = shape.length > 0 ? shape[shape.length - 1] : 1;
  const whole = (t: Tensor) => t.shape.join() === shape.join() && t.isContiguous() && t.offset % 4 === 0;
  const perChannel = (t: Tensor) => t !== out && t.size === channels && t.shape[t.rank - 1] === channels && (channels === 1 || t.strides[t.rank - 1] === 1) && t.offset % 4 === 0;
  /** Row pitch (elements) of an operand the rows path can read with vec4 loads: 0 for a per-channel vector. */
  const pitch = (t: Tensor): number | null => {
    if (perChannel(t)) return 0;
    const rows = t.shape.join() === shape.join() && t.offset % 4 === 0 ? rowStrides(t) : null;
    return rows && rows.channel === 1 && rows.row % 4 === 0 ? rows.row : null;
  };
  const vec4 = n % 4 === 0 && operands.every(whole);
  const path: Path = vec4 ? 'vec4' : n % 4 === 0 && channels % 4 === 0 && operands.every((t) => pitch(t) !== null) ? 'rows' : 'strided';
  const scalars = inputs.filter((x): x is number => typeof x === 'number');
  let params: Params;
  if (path === 'strided') {
    const merged = coalesce(shape, operands);
    const views = operands.map((t, k) => t.view(merged.shape, merged.strides[k], t.offset));
    params = stridedParams(merged.shape, views, scalars);
    for (const v of views) v.dispose();
  } else {
    const padded = (values: number[]) => [...values, ...new Array<number>(MAX_OPERANDS - values.length).fill(0)];
    params = new Params()
      .u32(n / 4, channels / 4)
      .align4()
      .u32(...padded(operands.map((t) => t.offset / 4)))
      .f32(...[...scalars, 0, 0, 0, 0].slice(0, 4))
      .u32(...padded(operands.map((t) => (path === 'rows' ? pitch(t)! / 4 : 0))));
  }
  if (n === 0) return out;

  const signature = inputs.map((x) => (typeof x === 'number' ? 's' : `${x.dtype}@${bindingOf(x)}`)).join(',');
  const key = `ew:${path}:${expr}:${signature}->${out.dtype}@${bindingOf(out)}`;
  const build = () => elementwiseWgsl(expr, inputs, out, bound, bindingOf, path);
  launch(engine, { key, name: `elementwise ${expr} (${path})`, build }, bound, params, grid1d(engine, path === 'strided' ? n : n / 4, WG));
  return out;
}

/** Offsets of operands 0..3 for element i over the merged shape; its padding 1s mark where the shape starts. */
const OFFSETS_AT_WGSL = /* wgsl */ `
fn stridesAt(d: u32) -> vec4<u32> { return vec4<u32>(strideOf(0u, d), strideOf(1u, d), strideOf(2u, d), strideOf(3u, d)); }
fn offsetsAt(i: u32) -> vec4<u32> {
  var rem = i;
  var off = P.offsets;
  var d = ${MAX_RANK - 1}u;
  loop {
    if (d == 0u || dimOf(d - 1u) == 1u) { break; }
    let n = dimOf(d);
    off += (rem % n) * stridesAt(d);
    rem = rem / n;
    d -= 1u;
  }
  return off + rem * stridesAt(d);
}`;

function elementwiseWgsl(
  expr: string,
  inputs: readonly (Tensor | number)[],
  out: Tensor,
  bound: readonly Tensor[],
  bindingOf: (t: Tensor) => number,
  path: Path,
): string {
  const swz = ['x', 'y', 'z', 'w'];
  const vec = path !== 'strided';
  const decls = bound.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> buf${b}: array<${vec ? `vec4<${t.dtype}>` : t.dtype}>;`);
  const args = inputs.map((_, i) => `x${i}: f32`).join(', ');
  // Per input: its value for element i (vec4 path: a vec4 loaded once, then component c).
  let operand = 1;
  let scalar = 0;
  const loads: string[] = [];
  const argOf = inputs.map((x, i) => {
    if (typeof x === 'number') return `P.scalars.${swz[scalar++]}`;
    const o = swz[operand++];
    const b = bindingOf(x);
    if (!vec) return `f32(buf${b}[o.${o}])`;
    loads.push(`let v${i} = buf${b}[P.offsets.${o} + ${path === 'rows' ? `row * P.pitches.${o} + q` : 'i'}];`);
    return `f32(v${i}[c])`;
  });
  const call = `op(${argOf.join(', ')})`;
  const ob = bindingOf(out);
  const T = out.dtype;
  const header = vec
    ? `struct Params { n: u32, quads: u32, offsets: vec4<u32>, scalars: vec4<f32>, pitches: vec4<u32> }
@group(0) @binding(0) var<uniform> P: Params;`
    : `${STRIDED_WGSL}${OFFSETS_AT_WGSL}`;
  const body = vec
    ? `${path === 'rows' ? 'let row = i / P.quads; let q = i - row * P.quads;' : ''}
  ${loads.join('\n  ')}
  var r: vec4<${T}>;
  for (var c = 0u; c < 4u; c++) { r[c] = ${T}(${call}); }
  buf${ob}[P.offsets.x + ${path === 'rows' ? 'row * P.pitches.x + q' : 'i'}] = r;`
    : `let o = offsetsAt(i);
  buf${ob}[o.x] = ${T}(${call});`;
  return /* wgsl */ `${enables(...bound.map((t) => t.dtype))}
${header}
${linearIndexWgsl(WG)}
${HELPERS_WGSL}
${decls.join('\n')}
fn op(${args}) -> f32 { return ${expr}; }
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  ${body}
}`;
}

export function unary(op: UnaryOp, x: Tensor, options?: ElementwiseOptions): Tensor {
  return elementwise(UNARY[op], [x], options);
}

/** a op b with broadcasting; either side may be a scalar. */
export function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number, options?: ElementwiseOptions): Tensor {
  return elementwise(BINARY[op], [a, b], options);
}

export const add = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('add', a, b, o);
export const sub = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('sub', a, b, o);
export const mul = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('mul', a, b, o);
export const div = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('div', a, b, o);

/** min(max(x, lo), hi); lo and hi may be tensors (broadcast) or scalars. */
export function clamp(x: Tensor, lo: Tensor | number, hi: Tensor | number, options?: ElementwiseOptions): Tensor {
  return elementwise('min(max(x0, x1), x2)', [x, lo, hi], options);
}

/** cond != 0 ? a : b, with broadcasting; cond may be a float or integer mask. Output dtype from a and b. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number, options: ElementwiseOptions = {}): Tensor {
  const values = [a, b].filter((x): x is Tensor => typeof x !== 'number');
  const outDtype = options.outDtype ?? options.out?.dtype ?? (values.length ? resultDtype(values) : 'f32');
  return elementwise('select(x2, x1, x0 != 0.0)', [cond, a, b], { ...options, outDtype });
}

/** alpha * x + beta * y (optimizer and gradient-accumulation arithmetic); in place with out: y. */
export function axpby(alpha: number, x: Tensor, beta: number, y: Tensor, options?: ElementwiseOptions): Tensor {
  return elementwise('x0 * x1 + x2 * x3', [alpha, x, beta, y], options);
}
