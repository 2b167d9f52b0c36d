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
  const lanes: 1 | 4 = c % 4 === 0 && gRows.channel === 1 && gRows.row % 4 === 0 && [g, x, mean, gu].every((t) => t.offset % 4 === 0) && (!siluAffine || siluAffine.offset % 4 === 0) ? 4 : 1;
  const units = c / lanes;
  const tx = Math.min(32, 2 ** Math.ceil(Math.log2(units)));
  const ty = THREADS / tx;
  const tiles = Math.ceil(units / tx);
  const chunks = Math.max(1, Math.min(Math.ceil(TARGET_GROUPS / tiles), Math.floor(rows / (ty * MIN_ROWS_PER_THREAD))));
  const chunkLen = Math.ceil(rows / chunks);
  const partial = Tensor.empty(x.engine, [chunks, 2, c], 'f32', chunks === 1 ? category : 'workspace');
  const operands = [partial, g, x, mean, gu, ...(siluAffine ? [siluAffine] : [])];
  const { bound, slot } = distinctBindings('batchNormGradSums', operands);
  const [pOut, pG, pX, pMean, pGu, pAff] = operands.map((t) => `b${slot(t)}`);
  const key = `bn-grad-sums:${lanes}:${tx}:${operands.map((t) => `${t.dtype}@${slot(t)}`).join(',')}`;
  const F = lanesOf(lanes, 'f32');
  const vectorBindings = new Set([g, x, mean, gu, siluAffine].filter((t) => t && lanes === 4).map((t) => slot(t!)));
  const gradient = siluAffine
    ? `siluGrad(${F}(${pG}[P.gOff + r * P.gRow + u * P.gCh]), xv * ${pAff}[P.affOff + u] + ${pAff}[P.affOff + P.units + u])`
    : `${F}(${pG}[P.gOff + r * P.gRow + u * P.gCh])`;
  const build = () => /* wgsl */ `${enables(...operands.map((t) => t.dtype))}
struct Params { units: u32, rows: u32, chunkLen: u32, tiles: u32, gOff: u32, gRow: u32, gCh: u32, xOff: u32, meanOff: u32, guOff: u32, affOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${bound.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> b${b}: array<${vectorBindings.has(b) ? lanesOf(4, t.dtype) : t.dtype}>;`).join('\n')}
${HELPERS_WGSL}
fn siluGrad(g: ${F}, u: ${F}) -> ${F} {
  var out = g;
  ${lanes === 4 ? 'for (var j = 0u; j < 4u; j++) { out[j] = g[j] * siluGradf(u[j]); }' : 'out = g * siluGradf(u);'}
  return out;
}
var<workgroup> shG: array<${F}, ${THREADS}>;
var<workgroup> shX: array<${F}, ${THREADS}>;
@compute @workgroup_size(${tx}, ${ty})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let chunk = wg.x / P.tiles;
  let u = (wg.x % P.tiles) * ${tx}u + lid.x;
  let begin = chunk * P.chunkLen;
  let end = min(begin + P.chunkLen, P.rows);
  var sg = ${F}();
  var sx = ${F}();
  if (u < P.units) {
    let m = ${F}(${pMean}[P.meanOff + u]);
    for (var r = begin + lid.y; r < end; r += ${ty}u) {
      let at = r * P.units + u;
      let xv = ${F}(${pX}[P.xOff + at]);
      let gv = ${gradient};
      ${pGu}[P.guOff + at] = ${lanesOf(lanes, gu.dtype)}(gv);
      sg += gv;
      sx += gv * (xv - m);
    }
  }
  let me = lid.y * ${tx}u + lid.x;
  shG[me] = sg;
  shX[me] = sx;
  workgroupBarrier();
  for (var h = ${ty / 2}u; h > 0u; h >>= 1u) {
    if (lid.y < h) { shG[me] += shG[me + h * ${tx}u]; shX[me] += shX[me + h * ${tx}u]; }
    workgroupBarrier();
  }
  if (lid.y == 0u && u < P.units) {
    let C = P.units * ${lanes}u;
    for (var j = 0u; j < ${lanes}u; j++) {
      ${pOut}[(chunk * 2u) * C + u * ${lanes}u + j] = shG[lid.x]${lanes === 4 ? '[j]' : ''};
      ${pOut}[(chunk * 2u + 1u) * C + u * ${lanes}u + j] = shX[lid.x]${lanes === 4 ? '[j]' : ''};
    }
  }
}`;
  const off = (t: Tensor) => t.offset / lanes;
  const params = new Params().u32(units, rows, chunkLen, tiles, off(g), gRows.row / lanes, gRows.channel, off(x), off(mean), off(gu), siluAffine ? off(siluAffine) : 0);
  launch(x.engine, { key, name: 'batchnorm grad sums', build }, bound, params, grid1d(x.engine, tiles * chunks, 1));
  if (chunks === 1) return partial.reshape([2, c]);
  const sums = reduce('sum', partial, [0], { category });
  partial.dispose();
  return sums;
}

const APPLY_WG = 256;

/** gu := gu * a + x * b + d per channel, with coef = [3, C] rows a, b, d (f32); gu f32 or f16; four channels per thread where C and the offsets allow. */
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
