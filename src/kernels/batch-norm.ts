import type { Category } from '../gpu/arena.js';
import { Tensor } from '../gpu/tensor.js';
import { copy } from './copy.js';
import { HELPERS_WGSL } from './elementwise.js';
import { distinctBindings, enables, grid1d, launch, linearIndexWgsl, Params, rowStrides } from './launch.js';
import { reduce } from './reduce.js';

/**
 * The two passes of BatchNorm's backward over NHWC data that elementwise ops and plain
 * reductions cannot do without activation-sized temporaries:
 *  - `batchNormGradSums`: gu (g, or g silu'(u) with u recomputed) and per channel sum(gu)
 *    and sum(gu * (x - mean)) in one read of g and x (threads along channels, four per
 *    thread where the views allow vec4 access, read coalesced; as many threads along rows
 *    as narrow layers leave free; row chunks go to a small workspace that a deterministic
 *    reduction sums);
 *  - `batchNormGradApply`: dx = gu * a + x * b + d with per-channel a, b, d, in place into gu
 *    (f32 or f16; computed in f32).
 * Both take contiguous [pixels, C] data (conv outputs and their gradients are).
 */

/** Threads per workgroup; along channels (or channel quads) up to 32, the rest along rows. */
const THREADS = 256;
/** Row chunks per channel tile: enough workgroups to fill a large GPU. */
const TARGET_GROUPS = 1024;
const MIN_ROWS_PER_THREAD = 16;
/** The statistics' finishing pass: channels per workgroup, and threads adding one channel's chunk sums. */
const FINISH_CHANNELS = 16;
const FINISH_LANES = 16;

/** WGSL type of `lanes` consecutive channels of a `scalar`. */
const lanesOf = (lanes: 1 | 4, scalar: string) => (lanes === 4 ? `vec4<${scalar}>` : scalar);

function checkRows(op: string, t: Tensor, channels: number): void {
  if (!t.isContiguous() || t.shape[t.rank - 1] !== channels) throw new Error(`${op}: expected contiguous [..., ${channels}] data, got [${t.shape}]`);
}

/**
 * The first pass of BatchNorm's backward: gu = dL/du for u = x scale + shift — g itself,
 * or with `siluAffine` (the forward's [3, C] rows scale, shift, invstd) g silu'(u), u
 * recomputed from x — written to `gu` (its dtype), and the per-channel sums of gu and
 * gu (x - mean) as a [2, C] f32 tensor (of the f32 values, before an f16 gu rounds them).
 * One read of g and x, one write of gu.
 */
export function batchNormGradSums(g: Tensor, x: Tensor, mean: Tensor, gu: Tensor, siluAffine: Tensor | null, category: Category = 'activations'): Tensor {
  const c = mean.size;
  for (const t of [x, gu]) checkRows('batchNormGradSums', t, c);
  if (g.shape[g.rank - 1] !== c) throw new Error(`batchNormGradSums: expected [..., ${c}] data, got [${g.shape}]`);
  const gRows = rowStrides(g);
  if (!gRows) {
    // g's pixels are not evenly spaced: one contiguous copy.
    const dense = copy(g, 'activations');
    try {
      return batchNormGradSums(dense, x, mean, gu, siluAffine, category);
    } finally {
      dense.dispose();
    }
  }
  if (g.size !== x.size || gu.size !== x.size) throw new Error(`batchNormGradSums: g [${g.shape}], x [${x.shape}] and gu [${gu.shape}] differ in size`);
  if (siluAffine && (siluAffine.rank !== 2 || siluAffine.shape[1] !== c || !siluAffine.isContiguous())) throw new Error(`batchNormGradSums: the affine rows must be a contiguous [3, ${c}], got [${siluAffine.shape}]`);
  const rows = x.size / c;
  // Four channels per thread where every view allows vec4 access, else one.
  const aligned = [g, x, mean, gu, ...(siluAffine ? [siluAffine] : [])].every((t) => t.offset % 4 === 0);
  const lanes: 1 | 4 = c % 4 === 0 && gRows.channel === 1 && gRows.row % 4 === 0 && aligned ? 4 : 1;
  const tiling = channelTiling(rows, c, lanes);
  const partial = Tensor.empty(x.engine, [tiling.chunks, 2, c], 'f32', tiling.chunks === 1 ? category : 'workspace');
  const operands = [partial, g, x, mean, gu, ...(siluAffine ? [siluAffine] : [])];
  const { bound, slot } = distinctBindings('batchNormGradSums', operands);
  const [pOut, pG, pX, pMean, pGu, pAff] = operands.map((t) => `b${slot(t)}`);
  const key = `bn-grad-sums:${lanes}:${tiling.tx}:${operands.map((t) => `${t.dtype}@${slot(t)}`).join(',')}`;
  const F = lanesOf(lanes, 'f32');
  const vectorBindings = new Set([g, x, mean, gu, siluAffine].filter((t) => t && lanes === 4).map((t) => slot(t!)));
  const gradient = siluAffine
    ? `siluGrad(${F}(${pG}[P.gOff + r * P.gRow + u * P.gCh]), xv * ${pAff}[P.affOff + u] + ${pAff}[P.affOff + P.units + u])`
    : `${F}(${pG}[P.gOff + r * P.gRow + u * P.gCh])`;
  const build = () =>
    channelSumsWgsl(tiling, lanes, pOut, {
      header: `${enables(...operands.map((t) => t.dtype))}
struct Params { units: u32, rows: u32, chunkLen: u32, tiles: u32, gOff: u32, gRow: u32, gCh: u32, xOff: u32, meanOff: u32, guOff: u32, affOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${bound.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> b${b}: array<${vectorBindings.has(b) ? lanesOf(4, t.dtype) : t.dtype}>;`).join('\n')}
${HELPERS_WGSL}
fn siluGrad(g: ${F}, u: ${F}) -> ${F} {
  var out = g;
  ${lanes === 4 ? 'for (var j = 0u; j < 4u; j++) { out[j] = g[j] * siluGradf(u[j]); }' : 'out = g * siluGradf(u);'}
  return out;
}`,
      setup: `let m = ${F}(${pMean}[P.meanOff + u]);`,
      row: `let xv = ${F}(${pX}[P.xOff + at]);
      let gv = ${gradient};
      ${pGu}[P.guOff + at] = ${lanesOf(lanes, gu.dtype)}(gv);
      let pa = gv;
      let pb = gv * (xv - m);`,
    });
  const off = (t: Tensor) => t.offset / lanes;
  const params = new Params().u32(...tilingParams(tiling), off(g), gRows.row / lanes, gRows.channel, off(x), off(mean), off(gu), siluAffine ? off(siluAffine) : 0);
  launch(x.engine, { key, name: 'batchnorm grad sums', build }, bound, params, grid1d(x.engine, tiling.tiles * tiling.chunks, 1));
  return chunkSums(partial, category);
}

/**
 * BatchNorm statistics of contiguous [..., C] data: per-channel mean and biased variance (f32),
 * from sums of x - s and (x - s)^2 with s each channel's first value (shifted data: no
 * cancellation where the mean is far from zero, as long as the spread is not far below the
 * distance of the first value from the mean). One read of x, four channels per thread where
 * C allows; then one small pass adds the chunks' sums (in a fixed order) and finishes.
 */
export function channelMoments(x: Tensor, category: Category = 'activations'): { mean: Tensor; variance: Tensor } {
  const c = x.shape[x.rank - 1];
  checkRows('channelMoments', x, c);
  const rows = x.size / c;
  if (rows === 0) throw new Error(`channelMoments: no rows in [${x.shape}]`);
  const lanes: 1 | 4 = c % 4 === 0 && x.offset % 4 === 0 ? 4 : 1;
  const tiling = channelTiling(rows, c, lanes);
  const F = lanesOf(lanes, 'f32');
  const partial = Tensor.empty(x.engine, [tiling.chunks, 2, c], 'f32', 'workspace');
  const build = () =>
    channelSumsWgsl(tiling, lanes, 'sums', {
      header: `${enables(x.dtype)}
struct Params { units: u32, rows: u32, chunkLen: u32, tiles: u32, xOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> xs: array<${lanesOf(lanes, x.dtype)}>;`,
      setup: `let s = ${F}(xs[P.xOff + u]);`,
      row: `let d = ${F}(xs[P.xOff + at]) - s;
      let pa = d;
      let pb = d * d;`,
    });
  const params = new Params().u32(...tilingParams(tiling), x.offset / lanes);
  launch(x.engine, { key: `bn-moments:${lanes}:${tiling.tx}:${x.dtype}`, name: 'batchnorm moments', build }, [partial, x], params, grid1d(x.engine, tiling.tiles * tiling.chunks, 1));
  const mean = Tensor.empty(x.engine, [c], 'f32', category);
  const variance = Tensor.empty(x.engine, [c], 'f32', category);
  // Per channel, FINISH_LANES threads add every FINISH_LANES-th chunk's sums, then a fixed-order tree adds theirs.
  const finish = () => `${enables(x.dtype)}
struct Params { C: u32, chunks: u32, xOff: u32, inv: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;
@group(0) @binding(4) var<storage, read_write> xs: array<${x.dtype}>;
var<workgroup> t1: array<f32, ${FINISH_LANES * FINISH_CHANNELS}>;
var<workgroup> t2: array<f32, ${FINISH_LANES * FINISH_CHANNELS}>;
@compute @workgroup_size(${FINISH_CHANNELS}, ${FINISH_LANES})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * ${FINISH_CHANNELS}u + lid.x;
  let at = lid.y * ${FINISH_CHANNELS}u + lid.x;
  var s1 = 0.0;
  var s2 = 0.0;
  if (c < P.C) {
    for (var k = lid.y; k < P.chunks; k += ${FINISH_LANES}u) {
      s1 += sums[2u * k * P.C + c];
      s2 += sums[(2u * k + 1u) * P.C + c];
    }
  }
  t1[at] = s1;
  t2[at] = s2;
  for (var half = ${FINISH_LANES / 2}u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid.y < half) {
      t1[at] += t1[at + half * ${FINISH_CHANNELS}u];
      t2[at] += t2[at + half * ${FINISH_CHANNELS}u];
    }
  }
  if (lid.y == 0u && c < P.C) {
    let d = t1[at] * P.inv;
    mean[c] = f32(xs[P.xOff + c]) + d;
    variance[c] = max(t2[at] * P.inv - d * d, 0.0);
  }
}`;
  const finishParams = new Params().u32(c, tiling.chunks, x.offset).f32(1 / rows);
  const finishGroups = Math.ceil(c / FINISH_CHANNELS);
  launch(x.engine, { key: `bn-moments-finish:${x.dtype}`, name: 'batchnorm moments finish', build: finish }, [mean, variance, partial, x], finishParams, [finishGroups, 1, 1]);
  partial.dispose();
  return { mean, variance };
}

/** How a per-channel pass over [rows, C] splits: channel units (1 or 4 channels) along x, rows along y, row chunks. */
interface ChannelTiling {
  units: number;
  rows: number;
  tx: number;
  ty: number;
  tiles: number;
  chunks: number;
  chunkLen: number;
}

function channelTiling(rows: number, c: number, lanes: 1 | 4): ChannelTiling {
  const units = c / lanes;
  // Up to 32 threads along channel units; narrow layers give the rest of the workgroup to rows.
  const tx = Math.min(32, 2 ** Math.ceil(Math.log2(units)));
  const ty = THREADS / tx;
  const tiles = Math.ceil(units / tx);
  const chunks = Math.max(1, Math.min(Math.ceil(TARGET_GROUPS / tiles), Math.floor(rows / (ty * MIN_ROWS_PER_THREAD))));
  return { units, rows, tx, ty, tiles, chunks, chunkLen: Math.ceil(rows / chunks) };
}

/** The first four parameters of every per-channel pass (its Params struct starts with them). */
const tilingParams = (t: ChannelTiling) => [t.units, t.rows, t.chunkLen, t.tiles];

/**
 * A per-channel pass over [rows, C]: workgroup (tile, chunk) walks its rows with `row` (which
 * sees `r`, `u` (channel unit) and `at` = r * units + u, and defines `pa`, `pb`), sums both
 * per channel unit along a fixed tree and writes them to `out` as [chunk, 2, C] f32.
 */
function channelSumsWgsl(t: ChannelTiling, lanes: 1 | 4, out: string, parts: { header: string; setup: string; row: string }): string {
  const F = lanesOf(lanes, 'f32');
  return /* wgsl */ `${parts.header}
var<workgroup> shA: array<${F}, ${THREADS}>;
var<workgroup> shB: array<${F}, ${THREADS}>;
@compute @workgroup_size(${t.tx}, ${t.ty})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let chunk = wg.x / P.tiles;
  let u = (wg.x % P.tiles) * ${t.tx}u + lid.x;
  let begin = chunk * P.chunkLen;
  let end = min(begin + P.chunkLen, P.rows);
  var sa = ${F}();
  var sb = ${F}();
  if (u < P.units) {
    ${parts.setup}
    for (var r = begin + lid.y; r < end; r += ${t.ty}u) {
      let at = r * P.units + u;
      ${parts.row}
      sa += pa;
      sb += pb;
    }
  }
  let me = lid.y * ${t.tx}u + lid.x;
  shA[me] = sa;
  shB[me] = sb;
  workgroupBarrier();
  for (var h = ${t.ty / 2}u; h > 0u; h >>= 1u) {
    if (lid.y < h) { shA[me] += shA[me + h * ${t.tx}u]; shB[me] += shB[me + h * ${t.tx}u]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && u < P.units) {
    let C = P.units * ${lanes}u;
    for (var j = 0u; j < ${lanes}u; j++) {
      ${out}[(chunk * 2u) * C + u * ${lanes}u + j] = shA[lid.x]${lanes === 4 ? '[j]' : ''};
      ${out}[(chunk * 2u + 1u) * C + u * ${lanes}u + j] = shB[lid.x]${lanes === 4 ? '[j]' : ''};
    }
  }
}`;
}

/** [chunks, 2, C] partial sums to [2, C] (the deterministic reduction; as is for one chunk). */
function chunkSums(partial: Tensor, category: Category): Tensor {
  const [chunks, , c] = partial.shape;
  if (chunks === 1) {
    const sums = partial.reshape([2, c]);
    partial.dispose();
    return sums;
  }
  const sums = reduce('sum', partial, [0], { category });
  partial.dispose();
  return sums;
}

const APPLY_WG = 256;

/**
 * gu := gu * a + x * b + d per channel, with coef = [3, C] rows a, b, d (f32); gu f32 or f16;
 * four channels per thread where C and the offsets allow.
 */
export function batchNormGradApply(gu: Tensor, x: Tensor, coef: Tensor): void {
  const c = coef.shape[1];
  checkRows('batchNormGradApply', gu, c);
  checkRows('batchNormGradApply', x, c);
  if ((gu.dtype !== 'f32' && gu.dtype !== 'f16') || !coef.isContiguous() || coef.shape[0] !== 3) throw new Error('batchNormGradApply: gu must be f32 or f16 and coef a contiguous [3, C]');
  const lanes: 1 | 4 = c % 4 === 0 && [gu, x, coef].every((t) => t.offset % 4 === 0) ? 4 : 1;
  const key = `bn-grad-apply:${lanes}:${gu.dtype}:${x.dtype}`;
  const F = lanesOf(lanes, 'f32');
  const build = () => /* wgsl */ `${enables(gu.dtype, x.dtype)}
struct Params { n: u32, units: u32, guOff: u32, xOff: u32, coefOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> gu: array<${lanesOf(lanes, gu.dtype)}>;
@group(0) @binding(2) var<storage, read_write> xs: array<${lanesOf(lanes, x.dtype)}>;
@group(0) @binding(3) var<storage, read_write> coef: array<${F}>;
${linearIndexWgsl(APPLY_WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let u = i % P.units;
  let at = P.guOff + i;
  gu[at] = ${lanesOf(lanes, gu.dtype)}(${F}(gu[at]) * coef[P.coefOff + u] + ${F}(xs[P.xOff + i]) * coef[P.coefOff + P.units + u] + coef[P.coefOff + 2u * P.units + u]);
}`;
  const params = new Params().u32(gu.size / lanes, c / lanes, gu.offset / lanes, x.offset / lanes, coef.offset / lanes);
  launch(gu.engine, { key, name: 'batchnorm grad apply', build }, [gu, x, coef], params, grid1d(gu.engine, gu.size / lanes, APPLY_WG));
}
