import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, MAX_RANK, padRank, Params } from './launch.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';
type Kind = ReduceOp | 'argmax' | 'argmin' | 'moments';
/** What a thread accumulates: mean shares sum's state, min/arg* share max's (through flags). */
type StateKind = 'sum' | 'best' | 'moments';
const STATE_OF: Record<Kind, StateKind> = { sum: 'sum', mean: 'sum', max: 'best', min: 'best', argmax: 'best', argmin: 'best', moments: 'moments' };

/** Enough workgroups to fill a large GPU (H100: 132 SMs); work per thread before a run is split. */
const TARGET_GROUPS = 1024;
const MIN_PER_THREAD = 16;
const MAX_CHUNKS = 1024;
/** Workgroup tiles (outputs x lanes along the run): 32 outputs per warp, or one long run per workgroup. */
const NARROW = { tx: 32, ty: 8 };
const LONG = { tx: 1, ty: 256 };

/** Runtime flags (uniform): address the source as 2-D; cols partial layout; negate (min); write the index. */
const DIRECT = 1;
const COLS = 2;
const NEGATE = 4;
const INDEX = 8;

export interface ReduceOptions {
  keepDims?: boolean;
  /** Output dtype of sum/mean/max/min (default: the input's). Accumulation is always f32. */
  outDtype?: DType;
  category?: Category;
}

/**
 * Per state kind: the WGSL state S a thread accumulates, push of one value (at reduced
 * index r) and of four (r, r + TY, r + 2 TY, r + 3 TY), merge of two states (associative; the tree applies it in a fixed order), and
 * its u32 words in the partials workspace. 'best' carries the index, so ties resolve to
 * the first index and +-inf inputs need no sentinel; min runs as max of -x. 'moments' is
 * Welford per thread (four values merged at a time) and Chan's formula to merge.
 */
function stateWgsl(kind: StateKind): { wgsl: string; finish: string; words: number } {
  if (kind === 'sum') {
    return {
      words: 1,
      wgsl: /* wgsl */ `
struct S { v: f32 }
fn init() -> S { return S(0.0); }
fn push(s: S, v: f32, r: u32) -> S { return S(s.v + v); }
fn push4(s: S, v: vec4<f32>, r: u32) -> S { return S(s.v + v.x + v.y + v.z + v.w); }
fn merge(a: S, b: S) -> S { return S(a.v + b.v); }
fn toWords(s: S, w: u32) -> u32 { return bitcast<u32>(s.v); }
fn fromWords(w: array<u32, 3>) -> S { return S(bitcast<f32>(w[0])); }`,
      finish: 'fn finish(o: u32, s: S) { dst[o] = T(s.v / P.divisor); }',
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
/** Four values as one state (their mean and squared deviations) merged in: one division per four values. */
fn push4(s: S, v: vec4<f32>, r: u32) -> S {
  let m = (v.x + v.y + v.z + v.w) * 0.25;
  let d = v - vec4<f32>(m);
  return merge(s, S(4.0, m, dot(d, d)));
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
      finish: 'fn finish(o: u32, s: S) { dst[o] = s.m; dst2[o] = s.q / s.n; }',
    };
  }
  return {
    words: 2,
    wgsl: /* wgsl */ `
const EMPTY: u32 = 0xffffffffu;
struct S { v: f32, i: u32 }
fn init() -> S { return S(0.0, EMPTY); }
fn push(s: S, x: f32, r: u32) -> S {
  let v = select(x, -x, (P.mode & ${NEGATE}u) != 0u);
  if (s.i == EMPTY || v > s.v) { return S(v, r); }
  return s;
}
fn push4(s: S, v: vec4<f32>, r: u32) -> S { return push(push(push(push(s, v.x, r), v.y, r + TY), v.z, r + 2u * TY), v.w, r + 3u * TY); }
fn merge(a: S, b: S) -> S {
  if (b.i == EMPTY) { return a; }
  if (a.i == EMPTY || b.v > a.v || (b.v == a.v && b.i < a.i)) { return b; }
  return a;
}
fn toWords(s: S, w: u32) -> u32 { return select(s.i, bitcast<u32>(s.v), w == 0u); }
fn fromWords(w: array<u32, 3>) -> S { return S(bitcast<f32>(w[0]), w[1]); }`,
    finish: /* wgsl */ `fn finish(o: u32, s: S) {
  if ((P.mode & ${INDEX}u) != 0u) { dst[o] = T(s.i); }
  else { dst[o] = T(select(s.v, -s.v, (P.mode & ${NEGATE}u) != 0u)); }
}`,
  };
}

/** How one pass reads its source and where it writes. */
interface Pass {
  state: StateKind;
  /** 'values': the input view; 'states': partials of a previous pass. */
  src: 'values' | 'states';
  srcDtype: DType;
  /** 'final' writes the outputs; 'partial' writes states to the workspace. */
  dst: 'final' | 'partial';
  dstDtype: DType;
  tx: number;
  ty: number;
}

/**
 * One workgroup of TX x TY threads handles TX outputs and one chunk of their reduced
 * run: lane y walks r = chunkStart + y, + TY, ... accumulating a state, then the TY
 * states of each output are merged along a fixed tree in workgroup memory. Results are
 * bitwise reproducible: no atomics, and the order depends on the shapes alone.
 * The source is addressed as 2-D (o * strideO + r * strideR: the common case, and the
 * partials) or, for views whose axes do not merge, through the full iteration shape.
 */
function reduceWgsl(p: Pass): string {
  const { wgsl: state, finish, words } = stateWgsl(p.state);
  // Values: four loads in flight per thread before they are pushed together (push4: for
  // moments one merge of their own mean and deviations, a division per four values), so
  // long runs are not latency-bound.
  const accumulate =
    p.src === 'states'
      ? `for (var r = begin + lid.y; r < end; r += TY) {
      let at = srcAt(o, r) * W;
      var w: array<u32, 3>;
      for (var j = 0u; j < W; j++) { w[j] = src[at + j]; }
      s = merge(s, fromWords(w));
    }`
      : `var r = begin + lid.y;
    for (; r + 3u * TY < end; r += 4u * TY) {
      let v0 = f32(src[srcAt(o, r)]);
      let v1 = f32(src[srcAt(o, r + TY)]);
      let v2 = f32(src[srcAt(o, r + 2u * TY)]);
      let v3 = f32(src[srcAt(o, r + 3u * TY)]);
      s = push4(s, vec4<f32>(v0, v1, v2, v3), r);
    }
    for (; r < end; r += TY) { s = push(s, f32(src[srcAt(o, r)]), r); }`;
  const write =
    p.dst === 'final'
      ? 'finish(o, s);'
      : `// Partials of a cols pass are stored (chunk, output): the next pass reads them coalesced.
    let at = select(o * P.chunks + k, k * P.outer + o, (P.mode & ${COLS}u) != 0u) * W;
    for (var j = 0u; j < W; j++) { dst[at + j] = toWords(s, j); }`;
  return /* wgsl */ `${enables(p.srcDtype, p.dstDtype)}
struct Params {
  outer: u32, inner: u32, chunks: u32, chunkLen: u32,
  mode: u32, offset: u32, divisor: f32, pad: u32,
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<${p.dstDtype}>;
@group(0) @binding(2) var<storage, read_write> src: array<${p.srcDtype}>;
${p.state === 'moments' && p.dst === 'final' ? '@group(0) @binding(3) var<storage, read_write> dst2: array<f32>;' : ''}
const TX: u32 = ${p.tx}u;
const TY: u32 = ${p.ty}u;
const W: u32 = ${words}u;
${state}
${p.dst === 'final' ? `alias T = ${p.dstDtype};\n${finish}` : ''}

fn dimOf(d: u32) -> u32 { return P.shape[d >> 2u][d & 3u]; }
fn strideOf(d: u32) -> u32 { return P.strides[d >> 2u][d & 3u]; }
/** Element of the source for output o, reduced index r. */
fn srcAt(o: u32, r: u32) -> u32 {
  if ((P.mode & ${DIRECT}u) != 0u) { return P.offset + o * strideOf(${MAX_RANK - 2}u) + r * strideOf(${MAX_RANK - 1}u); }
  // Merged iteration shape [kept..., reduced...] without size-1 axes: padding 1s mark its start.
  var rem = o * P.inner + r;
  var at = P.offset;
  var d = ${MAX_RANK - 1}u;
  loop {
    if (d == 0u || dimOf(d - 1u) == 1u) { break; }
    at += (rem % dimOf(d)) * strideOf(d);
    rem = rem / dimOf(d);
    d -= 1u;
  }
  return at + rem * strideOf(d);
}

var<workgroup> sh: array<S, ${p.tx * p.ty}>;
@compute @workgroup_size(${p.tx}, ${p.ty})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = wg.x + wg.y * groups.x;
  if (g >= (P.outer + TX - 1u) / TX * P.chunks) { return; }
  let k = g % P.chunks;
  let o = g / P.chunks * TX + lid.x;
  let begin = k * P.chunkLen;
  let end = min(begin + P.chunkLen, P.inner);
  var s = init();
  if (o < P.outer) {
    ${accumulate}
  }
  sh[lid.y * TX + lid.x] = s;
  workgroupBarrier();
  for (var h = TY / 2u; h > 0u; h >>= 1u) {
    if (lid.y < h) { sh[lid.y * TX + lid.x] = merge(sh[lid.y * TX + lid.x], sh[(lid.y + h) * TX + lid.x]); }
    workgroupBarrier();
  }
  if (lid.y == 0u && o < P.outer) {
    let s = sh[lid.x];
    ${write}
  }
}`;
}

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

/** Parameter block: sizes, flags, source offset, divisor, and the source iteration shape/strides right-aligned to MAX_RANK. */
function reduceParams(sizes: { outer: number; inner: number; chunks: number; chunkLen: number }, mode: number, offset: number, divisor: number, shape: number[], strides: number[]): Params {
  const { shape: s, strides: st } = padRank(shape, strides);
  return new Params()
    .u32(sizes.outer, sizes.inner, sizes.chunks, sizes.chunkLen, mode, offset)
    .f32(divisor)
    .u32(0, ...s, 0, 0, ...st, 0, 0);
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
  const direct = kept.shape.length <= 1 && red.shape.length <= 1;
  const last = (s: number[]) => (s.length ? Math.abs(s[s.length - 1]) : Infinity);
  // Kept axis fastest in memory (BatchNorm statistics of NHWC): threads along outputs read coalesced.
  const cols = outer > 1 && inner > 1 && last(kept.strides) < last(red.strides);
  const tileFor = (run: number) => (cols || run < 512 ? NARROW : LONG);
  const first = tileFor(inner);
  let chunks = Math.min(Math.ceil(TARGET_GROUPS / Math.ceil(outer / first.tx)), Math.floor(inner / (first.ty * MIN_PER_THREAD)), MAX_CHUNKS);
  const chunkLen = Math.max(1, Math.ceil(inner / Math.max(chunks, 1)));
  chunks = Math.max(1, Math.ceil(inner / chunkLen));
  if (outer === 0) return;

  const state = STATE_OF[kind];
  const { words } = stateWgsl(state);
  const flags = (direct ? DIRECT : 0) | (cols ? COLS : 0) | (kind === 'min' || kind === 'argmin' ? NEGATE : 0) | (kind === 'argmax' || kind === 'argmin' ? INDEX : 0);
  const divisor = kind === 'mean' ? inner : 1;
  const [shape, strides] = direct
    ? [[outer, inner], [kept.strides[0] ?? 0, red.strides[0] ?? 0]]
    : [[...kept.shape, ...red.shape], [...kept.strides, ...red.strides]];
  const dispatch = (pass: Pass, bindings: Tensor[], params: Params, groups: number) => {
    const key = `reduce:${pass.state}:${pass.src}:${pass.srcDtype}->${pass.dst}:${pass.dstDtype}:${pass.tx}x${pass.ty}`;
    launch(engine, { key, name: `reduce ${kind}`, build: () => reduceWgsl(pass) }, bindings, params, grid1d(engine, groups, 1));
  };
  const finalDtype = outs[0].dtype;
  if (chunks === 1) {
    const params = reduceParams({ outer, inner, chunks: 1, chunkLen: inner }, flags, x.offset, divisor, shape, strides);
    dispatch({ state, src: 'values', srcDtype: x.dtype, dst: 'final', dstDtype: finalDtype, ...first }, [outs[0], x, ...outs.slice(1)], params, Math.ceil(outer / first.tx));
    return;
  }
  const ws = Tensor.empty(engine, [outer * chunks * words], 'u32', 'workspace');
  const p1 = reduceParams({ outer, inner, chunks, chunkLen }, flags, x.offset, divisor, shape, strides);
  dispatch({ state, src: 'values', srcDtype: x.dtype, dst: 'partial', dstDtype: 'u32', ...first }, [ws, x], p1, Math.ceil(outer / first.tx) * chunks);
  // The partials as an [outer, chunks] 2-D source (in states) for the second pass.
  const second = tileFor(chunks);
  const p2 = reduceParams({ outer, inner: chunks, chunks: 1, chunkLen: chunks }, flags | DIRECT, 0, divisor, [outer, chunks], cols ? [1, outer] : [chunks, 1]);
  dispatch({ state, src: 'states', srcDtype: 'u32', dst: 'final', dstDtype: finalDtype, ...second }, [outs[0], ws, ...outs.slice(1)], p2, Math.ceil(outer / second.tx));
  ws.dispose();
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
