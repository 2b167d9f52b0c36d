import { Tensor } from '../gpu/tensor.js';
import type { ChunkSums } from './batch-norm-channels.js';
import { copy } from './copy.js';
import { HELPERS_WGSL } from './elementwise.js';
import { distinctBindings, enables, grid1d, launch, linearIndexWgsl, Params, rowStrides } from './launch.js';

/**
 * BatchNorm's passes over NHWC data:
 *  - `channelSums`: the forward's statistics, per-chunk shifted sums (`batchNormAffine` adds the chunks);
 *  - `batchNormGradSums`: gu (g, or g silu'(u) with u recomputed) and per channel sum(gu)
 *    and sum(gu * (x - mean)) in one read of g and x (threads along channels, four per
 *    thread where the views allow vec4 access, read coalesced; as many threads along rows
 *    as narrow layers leave free; row chunks go to a small workspace that `batchNormGradCoefs`
 *    adds in a fixed order);
 *  - `batchNormGradApply`: dx = gu * a + x * b + d with per-channel a, b, d, in place into gu
 *    (f32 or f16; computed in f32).
 * Both take contiguous [pixels, C] data (conv outputs and their gradients are).
 */

/** Threads per workgroup; along channels (or channel quads) up to 32, the rest along rows. */
const THREADS = 256;
/** Row chunks per channel tile: enough workgroups to fill a large GPU. */
const TARGET_GROUPS = 1024;
const MIN_ROWS_PER_THREAD = 16;

/** WGSL type of `lanes` consecutive channels of a `scalar`. */
const lanesOf = (lanes: 1 | 4, scalar: string) => (lanes === 4 ? `vec4<${scalar}>` : scalar);

function checkRows(op: string, t: Tensor, channels: number): void {
  if (!t.isContiguous() || t.shape[t.rank - 1] !== channels) throw new Error(`${op}: expected contiguous [..., ${channels}] data, got [${t.shape}]`);
}

/**
 * The first pass of BatchNorm's backward: gu = dL/du for u = x scale + shift — g itself,
 * or with `siluAffine` (the forward's [3, C] rows scale, shift, invstd) g silu'(u), u
 * recomputed from x — written to `gu` (its dtype), and per row chunk the per-channel sums
 * of gu and gu (x - mean) (of the f32 values, before an f16 gu rounds them).
 * One read of g and x, one write of gu.
 */
export function batchNormGradSums(g: Tensor, x: Tensor, mean: Tensor, gu: Tensor, siluAffine: Tensor | null): ChunkSums {
  const c = mean.size;
  for (const t of [x, gu]) checkRows('batchNormGradSums', t, c);
  if (g.shape[g.rank - 1] !== c) throw new Error(`batchNormGradSums: expected [..., ${c}] data, got [${g.shape}]`);
  const gRows = rowStrides(g);
  if (!gRows) {
    // g's pixels are not evenly spaced: one contiguous copy.
    const dense = copy(g, 'activations');
    try {
      return batchNormGradSums(dense, x, mean, gu, siluAffine);
    } finally {
      dense.dispose();
    }
  }
  if (g.size !== x.size || gu.size !== x.size) throw new Error(`batchNormGradSums: g [${g.shape}], x [${x.shape}] and gu [${gu.shape}] differ in size`);
  if (siluAffine && (siluAffine.rank !== 2 || siluAffine.shape[0] < 2 || siluAffine.shape[1] !== c || !siluAffine.isContiguous())) throw new Error(`batchNormGradSums: the affine rows must be a contiguous [>= 2, ${c}], got [${siluAffine.shape}]`);
  const rows = x.size / c;
  // Four channels per thread where every view allows vec4 access, else one.
  const aligned = [g, x, mean, gu, ...(siluAffine ? [siluAffine] : [])].every((t) => t.offset % 4 === 0);
  const lanes: 1 | 4 = c % 4 === 0 && gRows.channel === 1 && gRows.row % 4 === 0 && aligned ? 4 : 1;
  const tiling = channelTiling(rows, c, lanes);
  const partial = Tensor.empty(x.engine, [tiling.chunks, 2, c], 'f32', 'workspace');
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
  return { partial, count: rows };
}

/**
 * The forward's BatchNorm statistics of contiguous [..., C] data, per row chunk: the per-channel
 * sums of x - s and (x - s)^2 with s each channel's first value (shifted data: no cancellation
 * where the mean is far from zero, as long as the spread is not far below the distance of the
 * first value from the mean), and s itself (f32). One read of x, four channels per thread where
 * C allows; `batchNormAffine` adds the chunks (in a fixed order) and finishes.
 */
export function channelSums(x: Tensor): { sums: ChunkSums; shift: Tensor } {
  const c = x.shape[x.rank - 1];
  checkRows('channelSums', x, c);
  const rows = x.size / c;
  if (rows === 0) throw new Error(`channelSums: no rows in [${x.shape}]`);
  const lanes: 1 | 4 = c % 4 === 0 && x.offset % 4 === 0 ? 4 : 1;
  const tiling = channelTiling(rows, c, lanes);
  const F = lanesOf(lanes, 'f32');
  // The chunks' sums, then the shift (written by the first chunk's workgroups).
  const whole = Tensor.empty(x.engine, [2 * tiling.chunks + 1, c], 'f32', 'workspace');
  const build = () =>
    channelSumsWgsl(tiling, lanes, 'sums', {
      header: `${enables(x.dtype)}
struct Params { units: u32, rows: u32, chunkLen: u32, tiles: u32, xOff: u32, shiftOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> xs: array<${lanesOf(lanes, x.dtype)}>;`,
      setup: `let s = ${F}(xs[P.xOff + u]);
    if (chunk == 0u && lid.y == 0u) {
      for (var j = 0u; j < ${lanes}u; j++) { sums[P.shiftOff + u * ${lanes}u + j] = s${lanes === 4 ? '[j]' : ''}; }
    }`,
      row: `let d = ${F}(xs[P.xOff + at]) - s;
      let pa = d;
      let pb = d * d;`,
    });
  const params = new Params().u32(...tilingParams(tiling), x.offset / lanes, 2 * tiling.chunks * c);
  launch(x.engine, { key: `bn-sums:${lanes}:${tiling.tx}:${x.dtype}`, name: 'batchnorm sums', build }, [whole, x], params, grid1d(x.engine, tiling.tiles * tiling.chunks, 1));
  const partial = whole.slice(0, 0, 2 * tiling.chunks).reshape([tiling.chunks, 2, c]);
  const shift = whole.row(2 * tiling.chunks);
  whole.dispose();
  return { sums: { partial, count: rows }, shift };
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
 * A per-channel pass over [rows, C]: workgroup (tile, chunk) runs `setup` once per channel unit
 * `u` and walks its rows with `row` (which sees `r`, `u` and `at` = r * units + u, and defines
 * `pa`, `pb`), sums both per channel unit along a fixed tree and writes them to `out` as
 * [chunk, 2, C] f32.
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
