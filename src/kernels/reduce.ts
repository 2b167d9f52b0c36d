import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';
type Kind = ReduceOp | 'argmax' | 'argmin' | 'moments';

/** Threads per workgroup; enough workgroups to fill a large GPU; work per thread before splitting a run. */
const THREADS = 256;
const TARGET_GROUPS = 512;
const MIN_PER_THREAD = 16;
const MAX_CHUNKS = 1024;

export interface ReduceOptions {
  keepDims?: boolean;
  /** Output dtype of sum/mean/max/min (default: the input's). Accumulation is always f32. */
  outDtype?: DType;
  category?: Category;
}

/**
 * Per kind: the WGSL state `S` a thread accumulates, `push` of one value (at reduced index
 * r), `merge` of two states (associative; the tree applies it in a fixed order), the
 * number of u32 words a state takes in the partials workspace, and the final value(s).
 * max/min/arg* carry the index so that ties resolve to the first index and ±inf inputs
 * need no sentinel; moments use Welford per thread and Chan's formula to merge.
 */
function stateWgsl(kind: Kind): { wgsl: string; words: number } {
  if (kind === 'sum' || kind === 'mean') {
    return {
      words: 1,
      wgsl: /* wgsl */ `
struct S { v: f32 }
fn init() -> S { return S(0.0); }
fn push(s: S, v: f32, r: u32) -> S { return S(s.v + v); }
fn merge(a: S, b: S) -> S { return S(a.v + b.v); }
fn toWords(s: S, w: u32) -> u32 { return bitcast<u32>(s.v); }
fn fromWords(w: array<u32, 3>) -> S { return S(bitcast<f32>(w[0])); }`,
    };
  }
  if (kind === 'moments') {
    return {
      words: 3,
      wgsl: /* wgsl */ `
struct S { n: f32, m: f32, q: f32 }
fn init() -> S { return S(0.0, 0.0, 0.0); }
fn push(s: S, v: f32, r: u32) -> S {
  let n = s.n + 1.0;
  let d = v - s.m;
  let m = s.m + d / n;
  return S(n, m, s.q + d * (v - m));
}
fn merge(a: S, b: S) -> S {
  if (b.n == 0.0) { return a; }
  if (a.n == 0.0) { return b; }
  let n = a.n + b.n;
  let d = b.m - a.m;
  let f = b.n / n;
  return S(n, a.m + d * f, a.q + b.q + d * d * a.n * f);
}
fn toWords(s: S, w: u32) -> u32 { return bitcast<u32>(select(select(s.q, s.m, w == 1u), s.n, w == 0u)); }
fn fromWords(w: array<u32, 3>) -> S { return S(bitcast<f32>(w[0]), bitcast<f32>(w[1]), bitcast<f32>(w[2])); }`,
    };
  }
  const better = kind === 'max' || kind === 'argmax' ? '>' : '<';
  return {
    words: 2,
    wgsl: /* wgsl */ `
const EMPTY: u32 = 0xffffffffu;
struct S { v: f32, i: u32 }
fn init() -> S { return S(0.0, EMPTY); }
fn push(s: S, v: f32, r: u32) -> S { if (s.i == EMPTY || v ${better} s.v) { return S(v, r); } return s; }
fn merge(a: S, b: S) -> S {
  if (b.i == EMPTY) { return a; }
  if (a.i == EMPTY || b.v ${better} a.v || (b.v == a.v && b.i < a.i)) { return b; }
  return a;
}
fn toWords(s: S, w: u32) -> u32 { return select(s.i, bitcast<u32>(s.v), w == 0u); }
fn fromWords(w: array<u32, 3>) -> S { return S(bitcast<f32>(w[0]), w[1]); }`,
  };
}

/** The final value written for a state. A final pass has one chunk, whose chunkLen is the full reduced count. */
function finalWgsl(kind: Kind, T: DType): string {
  switch (kind) {
    case 'sum':
    case 'max':
    case 'min':
      return `dst[o] = ${T}(s.v);`;
    case 'mean':
      return `dst[o] = ${T}(s.v / f32(chunkLen));`;
    case 'argmax':
    case 'argmin':
      return `dst[o] = ${T}(s.i);`;
    case 'moments':
      return `dst[o] = s.m;\n    dst2[o] = s.q / s.n;`;
  }
}

/** How one pass reads its source and where it writes. */
interface Pass {
  kind: Kind;
  /** 'values': a tensor view (direct 2-D or strided addressing); 'states': partials of a previous pass. */
  src: 'direct' | 'strided' | 'states';
  srcDtype: DType;
  /** 'final' writes outputs; 'partial' writes states to the workspace (layout by `cols`). */
  dst: 'final' | 'partial';
  dstDtype: DType;
  /** Kept axis fastest in memory: threads along outputs (x), lanes along the run (y). */
  cols: boolean;
  tx: number;
  ty: number;
}

/**
 * One workgroup of TX x TY threads handles TX outputs and one chunk of their reduced
 * run: lane y walks r = chunkStart + y, + TY, ... accumulating a state, then the TY
 * states of each output are merged along a fixed tree in workgroup memory. Results are
 * therefore bitwise reproducible (no atomics, order fixed by the shapes alone).
 */
function reduceWgsl(p: Pass): string {
  const { wgsl: state, words } = stateWgsl(p.kind);
  const value =
    p.src === 'direct'
      ? 'f32(src[P.offsets.x + o * strideOf(0u, 4u) + r * strideOf(0u, 5u)])'
      : p.src === 'strided'
        ? 'f32(src[offsetsOf(o * inner + r).x])'
        : '';
  const accumulate =
    p.src === 'states'
      ? `let at = (o * strideOf(0u, 4u) + r * strideOf(0u, 5u)) * W;
      var w: array<u32, 3>;
      for (var j = 0u; j < W; j++) { w[j] = src[at + j]; }
      s = merge(s, fromWords(w));`
      : `s = push(s, ${value}, r);`;
  // Partials: cols passes store (chunk, output) so the next pass reads them coalesced along outputs.
  const write =
    p.dst === 'final'
      ? finalWgsl(p.kind, p.dstDtype)
      : `let at = select(o * chunks + k, k * outer + o, ${p.cols}) * W;
    for (var j = 0u; j < W; j++) { dst[at + j] = toWords(s, j); }`;
  const dtypes = [p.srcDtype, p.dstDtype];
  return /* wgsl */ `${enables(...dtypes)}
${STRIDED_WGSL}
@group(0) @binding(1) var<storage, read_write> dst: array<${p.dstDtype}>;
@group(0) @binding(2) var<storage, read_write> src: array<${p.srcDtype}>;
${p.kind === 'moments' && p.dst === 'final' ? '@group(0) @binding(3) var<storage, read_write> dst2: array<f32>;' : ''}
const TX: u32 = ${p.tx}u;
const TY: u32 = ${p.ty}u;
const W: u32 = ${words}u;
${state}
var<workgroup> sh: array<S, ${p.tx * p.ty}>;
@compute @workgroup_size(${p.tx}, ${p.ty})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let outer = bitcast<u32>(P.scalars.x);
  let inner = bitcast<u32>(P.scalars.y);
  let chunks = bitcast<u32>(P.scalars.z);
  let chunkLen = bitcast<u32>(P.scalars.w);
  let g = wg.x + wg.y * groups.x;
  if (g >= (outer + TX - 1u) / TX * chunks) { return; }
  let k = g % chunks;
  let o = g / chunks * TX + lid.x;
  let end = min(k * chunkLen + chunkLen, inner);
  var s = init();
  if (o < outer) {
    for (var r = k * chunkLen + lid.y; r < end; r += TY) {
      ${accumulate}
    }
  }
  sh[lid.y * TX + lid.x] = s;
  workgroupBarrier();
  for (var h = TY / 2u; h > 0u; h >>= 1u) {
    if (lid.y < h) { sh[lid.y * TX + lid.x] = merge(sh[lid.y * TX + lid.x], sh[(lid.y + h) * TX + lid.x]); }
    workgroupBarrier();
  }
  if (lid.y == 0u && o < outer) {
    let s = sh[lid.x];
    ${write}
  }
}`;
}

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(n, 1)));

/** Merges adjacent axes that are contiguous with each other (and drops size-1 axes). */
function coalesce(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  const out = { shape: [] as number[], strides: [] as number[] };
  shape.forEach((d, i) => {
    if (d === 1) return;
    const last = out.shape.length - 1;
    if (last >= 0 && out.strides[last] === strides[i] * d) {
      out.shape[last] *= d;
      out.strides[last] = strides[i];
    } else {
      out.shape.push(d);
      out.strides.push(strides[i]);
    }
  });
  return out;
}

/** Axes normalized (negative allowed), sorted, unique; all axes when omitted. */
function normalizeAxes(op: string, x: Tensor, axes?: readonly number[]): number[] {
  const rank = x.rank;
  const list = axes ?? [...Array(rank).keys()];
  const out = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (out.some((a) => a < 0 || a >= rank || !Number.isInteger(a))) throw new Error(`${op}: axes [${list}] out of range for shape [${x.shape}]`);
  return out;
}

function outputShape(x: Tensor, axes: number[], keepDims: boolean): number[] {
  return keepDims ? x.shape.map((d, a) => (axes.includes(a) ? 1 : d)) : x.shape.filter((_, a) => !axes.includes(a));
}

/**
 * Runs a reduction of x over `axes` into `outs` (contiguous, one element per kept
 * position in row-major order). Long runs are split into chunks whose states go to a
 * 'workspace' tensor and are merged by a second pass; the split depends on shapes only.
 */
function runReduce(kind: Kind, x: Tensor, axes: number[], outs: Tensor[]): void {
  const engine = x.engine;
  const keptAxes = [...Array(x.rank).keys()].filter((a) => !axes.includes(a));
  const kept = coalesce(keptAxes.map((a) => x.shape[a]), keptAxes.map((a) => x.strides[a]));
  const red = coalesce(axes.map((a) => x.shape[a]), axes.map((a) => x.strides[a]));
  const outer = keptAxes.reduce((s, a) => s * x.shape[a], 1);
  const inner = axes.reduce((s, a) => s * x.shape[a], 1);
  if (outer === 0) return;
  const direct = kept.shape.length <= 1 && red.shape.length <= 1;
  const iter = direct
    ? x.view([outer, inner], [kept.strides[0] ?? 0, red.strides[0] ?? 0], x.offset)
    : x.view([...kept.shape, ...red.shape], [...kept.strides, ...red.strides], x.offset);
  const fastest = (s: number[]) => (s.length ? Math.abs(s[s.length - 1]) : Infinity);
  const cols = outer > 1 && inner > 1 && fastest(kept.strides) < fastest(red.strides);
  const shapeOf = (run: number) => {
    if (cols) {
      const tx = Math.min(64, nextPow2(outer));
      return { tx, ty: THREADS / tx };
    }
    const ty = Math.min(THREADS, nextPow2(run));
    return { ty, tx: Math.min(THREADS / ty, nextPow2(outer)) };
  };
  const first = shapeOf(inner);
  const perChunkGroups = Math.ceil(outer / first.tx);
  let chunks = Math.max(1, Math.min(Math.ceil(TARGET_GROUPS / perChunkGroups), Math.floor(inner / (first.ty * MIN_PER_THREAD)), MAX_CHUNKS));
  const chunkLen = Math.max(1, Math.ceil(inner / chunks));
  chunks = Math.max(1, Math.ceil(inner / chunkLen));

  const { words } = stateWgsl(kind);
  const finalDtype = outs[0].dtype;
  const dispatch = (pass: Pass, bindings: Tensor[], view: Tensor, sizes: number[]) => {
    const key = `reduce:${pass.kind}:${pass.src}:${pass.srcDtype}->${pass.dst}:${pass.dstDtype}:${pass.cols ? 'c' : 'r'}${pass.tx}x${pass.ty}`;
    launch(
      engine,
      { key, name: `reduce ${kind}`, build: () => reduceWgsl(pass) },
      bindings,
      stridedParams(view.shape, [view], sizes.map(u32Bits)),
      grid1d(engine, Math.ceil(sizes[0] / pass.tx) * sizes[2], 1),
    );
  };
  const src = direct ? 'direct' : 'strided';
  if (chunks === 1) {
    dispatch({ kind, src, srcDtype: x.dtype, dst: 'final', dstDtype: finalDtype, cols, ...first }, [outs[0], x, ...outs.slice(1)], iter, [outer, inner, 1, Math.max(inner, 1)]);
  } else {
    const ws = Tensor.empty(engine, [outer * chunks * words], 'u32', 'workspace');
    dispatch({ kind, src, srcDtype: x.dtype, dst: 'partial', dstDtype: 'u32', cols, ...first }, [ws, x], iter, [outer, inner, chunks, chunkLen]);
    // The partials as an [outer, chunks] view (in states) for the second pass's direct addressing.
    const states = ws.view([outer, chunks], cols ? [1, outer] : [chunks, 1], 0);
    const second = shapeOf(chunks);
    dispatch({ kind, src: 'states', srcDtype: 'u32', dst: 'final', dstDtype: finalDtype, cols, ...second }, [outs[0], ws, ...outs.slice(1)], states, [outer, chunks, 1, inner]);
    states.dispose();
    ws.dispose();
  }
  iter.dispose();
}

/** sum / mean / max / min over a set of axes (all by default); f32 accumulation, deterministic. */
export function reduce(op: ReduceOp, x: Tensor, axes?: readonly number[], options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(op, x, axes);
  if ((op === 'max' || op === 'min') && ax.some((a) => x.shape[a] === 0)) throw new Error(`${op}: empty reduction over axes [${ax}] of shape [${x.shape}]`);
  const out = Tensor.empty(x.engine, outputShape(x, ax, options.keepDims ?? false), options.outDtype ?? x.dtype, options.category ?? 'activations');
  runReduce(op, x, ax, [out]);
  return out;
}

export const sum = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('sum', x, axes, o);
export const mean = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('mean', x, axes, o);
export const max = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('max', x, axes, o);
export const min = (x: Tensor, axes?: readonly number[], o?: ReduceOptions) => reduce('min', x, axes, o);

function argReduce(kind: 'argmax' | 'argmin', x: Tensor, axis: number, options: Omit<ReduceOptions, 'outDtype'>): Tensor {
  const ax = normalizeAxes(kind, x, [axis]);
  if (x.shape[ax[0]] === 0) throw new Error(`${kind}: axis ${axis} of shape [${x.shape}] is empty`);
  const out = Tensor.empty(x.engine, outputShape(x, ax, options.keepDims ?? false), 'i32', options.category ?? 'activations');
  runReduce(kind, x, ax, [out]);
  return out;
}

/** Index (i32) of the largest value along one axis; ties give the first index. */
export const argmax = (x: Tensor, axis: number, options: Omit<ReduceOptions, 'outDtype'> = {}) => argReduce('argmax', x, axis, options);
/** Index (i32) of the smallest value along one axis; ties give the first index. */
export const argmin = (x: Tensor, axis: number, options: Omit<ReduceOptions, 'outDtype'> = {}) => argReduce('argmin', x, axis, options);

/**
 * Mean and biased variance over the axes in one pass (Welford), f32 outputs whatever the
 * input dtype. BatchNorm statistics of NHWC: moments(x, [0, 1, 2]) runs with threads
 * along C and lanes along N*H*W rows (coalesced reads), split into chunks over the rows.
 */
export function moments(x: Tensor, axes?: readonly number[], options: Omit<ReduceOptions, 'outDtype'> = {}): { mean: Tensor; variance: Tensor } {
  const ax = normalizeAxes('moments', x, axes);
  const shape = outputShape(x, ax, options.keepDims ?? false);
  const m = Tensor.empty(x.engine, shape, 'f32', options.category ?? 'activations');
  const v = Tensor.empty(x.engine, shape, 'f32', options.category ?? 'activations');
  runReduce('moments', x, ax, [m, v]);
  return { mean: m, variance: v };
}
