import type { DType } from '../gpu/dtype.js';
import { enables, linearIndexWgsl } from './launch.js';
import { chunkCoords, chunksPerThread, range, stagedKLoop, tileRegisters, type TileShape } from './matmul-common.wgsl.js';
import { registerTileAccumulators, registerTileGrid, registerTileOutputs, registerTileStep, registerTileThreads, type RegisterTile } from './register-tile.wgsl.js';

/**
 * WGSL of the two conv2d gradient kernels that the forward template does not cover:
 *
 * `phaseWeightWgsl` — the weight of one stride phase of the input gradient:
 * V[ci, t, u, co] = W[group(ci) * CoutG + co, kh0 + sh (Jh-1-t), kw0 + sw (Jw-1-u), ci % Cg],
 * i.e. the taps that reach input rows of that phase, flipped, with in/out channels swapped
 * inside each group. dx of the phase is then a stride-1 forward conv of dy with V.
 *
 * `weightGradWgsl` — dW[co, (kh, kw, ci)] = sum over pixels p of dy[p, co] * x[p shifted by
 * (kh, kw), ci], per group: a GEMM of M = Cout/groups rows, N = KH*KW*Cg columns and a
 * reduction over the N*Ho*Wo output pixels, split into `splits` ranges (grid z) whose
 * partial sums go to a workspace and are summed by the deterministic reduction after.
 * Tiles of bk pixels are staged in workgroup memory along m and n (both operands are
 * contiguous along their channels) and multiplied by the register-blocked micro-kernel.
 */

export const PHASE_WEIGHT_WG = 256;

export function phaseWeightWgsl(src: DType, dst: DType): string {
  return /* wgsl */ `${enables(src, dst)}
struct Params { n: u32, Cg: u32, CoutG: u32, KH: u32, KW: u32, Jh: u32, Jw: u32, kh0: u32, kw0: u32, sh: u32, sw: u32, wOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<${dst}>;
@group(0) @binding(2) var<storage, read_write> src: array<${src}>;
${linearIndexWgsl(PHASE_WEIGHT_WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let co = i % P.CoutG;
  let u = (i / P.CoutG) % P.Jw;
  let t = (i / (P.CoutG * P.Jw)) % P.Jh;
  let ciAll = i / (P.CoutG * P.Jw * P.Jh);
  let grp = ciAll / P.Cg;
  let kh = P.kh0 + P.sh * (P.Jh - 1u - t);
  let kw = P.kw0 + P.sw * (P.Jw - 1u - u);
  dst[i] = ${dst}(src[P.wOff + (((grp * P.CoutG + co) * P.KH + kh) * P.KW + kw) * P.Cg + ciAll % P.Cg]);
}`;
}

export interface WeightGradTiles {
  /** Tile rows (output channels of a group) and columns ((kh, kw, ci)); per-thread block tm x tn. */
  bm: 16 | 32 | 64 | 128;
  bn: 16 | 32 | 64 | 128;
  tm: 4 | 8;
  tn: 4 | 8;
  /** Pixels per staged step. */
  bk: 8 | 16 | 32;
  buffers: 1 | 2;
  /**
   * vec4 loads: Cout/groups and Cin/groups multiples of 4, unit channel strides and every
   * other stride and offset a multiple of 4 (four columns of a tile row are one load).
   */
  vec: boolean;
}

export const weightGradKey = (t: WeightGradTiles) => `conv2d-wgrad:${t.bm}x${t.bn}:${t.tm}x${t.tn}:${t.bk}/${t.buffers}:${t.vec ? 'v' : 's'}`;

export const weightGradWorkgroupBytes = (t: WeightGradTiles) => 16 * t.buffers * t.bk * (t.bm / 4 + t.bn / 4);

/** The weight gradient's parameter block and bindings (partial sums, dy, x), shared by the SIMT and the tensor-core kernels. */
export function weightGradParamsWgsl(vec: boolean, dy: DType, x: DType): string {
  return /* wgsl */ `struct Params {
  M: u32, N: u32, pixels: u32, splitLen: u32, tilesN: u32,
  Ho: u32, Wo: u32, H: u32, W: u32, Cg: u32, KW: u32, Cout: u32,
  sh: i32, sw: i32, ph: i32, pw: i32,
  gOff: u32, sgN: u32, sgH: u32, sgW: u32, sgC: u32,
  xOff: u32, sxN: u32, sxH: u32, sxW: u32, sxC: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> gy: array<${vec ? `vec4<${dy}>` : dy}>;
@group(0) @binding(3) var<storage, read_write> xs: array<${vec ? `vec4<${x}>` : x}>;`;
}

/**
 * The gather of the weight gradient's operand tiles into chunk registers, shared by the SIMT
 * and the tensor-core kernels. A chunk is four columns of one tile row (pixel): of dy along
 * m (output channels), of the im2col of x along n = (kh, kw, ci). A thread's chunks keep
 * their columns for the whole reduction, so the column decomposition (tap, channel) happens
 * once, and the pixel (image, row, column) is advanced by bk per step instead of being
 * divided out of a linear index for every load. The threads cover whole tile rows (threads
 * a multiple of the chunks per row), so all chunks of a thread share one column and sit a
 * fixed number of rows apart: one column set and one pixel tracker per operand serve them
 * all, which keeps the registers down.
 */
export interface WeightGradGather {
  /** dy tile (contig = bm along m) and x tile (contig = bn along n); `other` is bk for both. */
  a: TileShape;
  b: TileShape;
  vec: boolean;
}

/** Rows between a thread's consecutive chunks of an operand tile. */
export function chunkRowStep(l: Pick<TileShape, 'contig' | 'threads'>): number {
  const perRow = l.contig / 4;
  if (l.threads % perRow) throw new Error(`conv2d weight gradient: ${l.threads} threads do not cover whole rows of ${perRow} chunks`);
  return l.threads / perRow;
}

/** Per-thread set-up (after m0, n0, grp, pBegin are defined): chunk columns, tile rows and pixel trackers. */
export function weightGradGatherSetup(g: WeightGradGather): string {
  const tracker = (x: string, o: string) =>
    `let ${x}_o = ${o}; var ${x}_n = 0u; var ${x}_h = 0u; var ${x}_w = 0u;
  { let p = pBegin + ${x}_o; let r = p % (P.Ho * P.Wo); ${x}_n = p / (P.Ho * P.Wo); ${x}_h = r / P.Wo; ${x}_w = r % P.Wo; }`;
  chunkRowStep(g.a);
  chunkRowStep(g.b);
  const a = chunkCoords(g.a, 0);
  const b = chunkCoords(g.b, 0);
  // Per column: tap row and column and the channel's offset; with vec4 loads (Cg % 4 == 0) the four share one tap.
  const columns = g.vec
    ? 'let tap = bn / P.Cg; let bkh = i32(tap / P.KW); let bkw = i32(tap % P.KW); let bch = grp * P.Cg + bn % P.Cg;'
    : `var bkh = vec4<i32>(); var bkw = vec4<i32>(); var bch = vec4<u32>();
  for (var e = 0u; e < 4u; e++) { let tap = (bn + e) / P.Cg; bkh[e] = i32(tap / P.KW); bkw[e] = i32(tap % P.KW); bch[e] = (grp * P.Cg + (bn + e) % P.Cg) * P.sxC; }`;
  return `let am = m0 + ${a.c}; let ach = (grp * P.M + am) * P.sgC;
  ${tracker('a', a.o)}
  let bn = n0 + ${b.c};
  ${columns}
  ${tracker('b', b.o)}`;
}

/** Moves pixel (n, h, w) forward by `by` pixels (w += by, then carries into rows and images). */
const advancePixel = (n: string, h: string, w: string, by: string) =>
  `${w} += ${by}; while (${w} >= P.Wo) { ${w} -= P.Wo; ${h} += 1u; } while (${h} >= P.Ho) { ${h} -= P.Ho; ${n} += 1u; }`;

/**
 * Statements loading the step's chunks (the step's first pixel is `kBase` past pBegin; zero past
 * the split, the edges and in the padding), then advancing the trackers to the next step.
 */
export function weightGradGatherLoads(g: WeightGradGather, kBase: string, set = ''): string {
  const T = g.a.regType;
  const bk = g.a.other;
  // Chunk i's tile row `o` and pixel (n, h, w): the tracker's, moved down i row steps.
  const pixel = (x: string, l: TileShape, i: number) => {
    const d = i * chunkRowStep(l);
    if (d === 0) return `let o = ${x}_o; let n = ${x}_n; let h = ${x}_h; let w = ${x}_w;`;
    return `let o = ${x}_o + ${d}u; var n = ${x}_n; var h = ${x}_h; var w = ${x}_w; ${advancePixel('n', 'h', 'w', `${d}u`)}`;
  };
  const loadA = (i: number) => {
    const r = `ra${set}${i}`;
    const at = 'P.gOff + n * P.sgN + h * P.sgH + w * P.sgW + ach';
    const body = g.vec
      ? `if (o < splitEnd && am < P.M) { ${r} = vec4<${T}>(gy[(${at}) / 4u]); }`
      : `if (o < splitEnd) { let at = ${at}; for (var e = 0u; e < 4u; e++) { if (am + e < P.M) { ${r}[e] = ${T}(gy[at + e * P.sgC]); } } }`;
    return `${r} = vec4<${T}>(); { ${pixel('a', g.a, i)} ${body} }`;
  };
  const loadB = (i: number) => {
    const r = `rb${set}${i}`;
    const origin = 'let hi = i32(h) * P.sh - P.ph; let wi = i32(w) * P.sw - P.pw; let base = P.xOff + n * P.sxN;';
    const body = g.vec
      ? `if (o < splitEnd && bn < P.N) { ${origin} let xh = hi + bkh; let xw = wi + bkw;
      if (u32(xh) < P.H && u32(xw) < P.W) { ${r} = vec4<${T}>(xs[(base + u32(xh) * P.sxH + u32(xw) * P.sxW + bch) / 4u]); } }`
      : `if (o < splitEnd) { ${origin} for (var e = 0u; e < 4u; e++) { let xh = hi + bkh[e]; let xw = wi + bkw[e];
      if (bn + e < P.N && u32(xh) < P.H && u32(xw) < P.W) { ${r}[e] = ${T}(xs[base + u32(xh) * P.sxH + u32(xw) * P.sxW + bch[e]]); } } }`;
    return `${r} = vec4<${T}>(); { ${pixel('b', g.b, i)} ${body} }`;
  };
  return `{ let splitEnd = pEnd - pBegin - (${kBase});
    ${range(chunksPerThread(g.a)).map(loadA).join('\n    ')}
    ${range(chunksPerThread(g.b)).map(loadB).join('\n    ')}
    ${advancePixel('a_n', 'a_h', 'a_w', `${bk}u`)}
    ${advancePixel('b_n', 'b_h', 'b_w', `${bk}u`)} }`;
}

/** The tile's first rows and columns, group, split and its pixel range, from the workgroup id. */
export const WEIGHT_GRAD_TILE_WGSL = (bm: number, bn: number) => `let m0 = (wg.x / P.tilesN) * ${bm}u;
  let n0 = (wg.x % P.tilesN) * ${bn}u;
  let grp = wg.y;
  let split = wg.z;
  let pBegin = split * P.splitLen;
  let pEnd = min(pBegin + P.splitLen, P.pixels);`;

export function weightGradWgsl(t: WeightGradTiles, dy: DType, x: DType): string {
  const threads = registerTileThreads(t);
  const micro: RegisterTile = { bm: t.bm, bn: t.bn, tm: t.tm, tn: t.tn, ra: t.bm / 4, rb: t.bn / 4 };
  const aStage = (t.bk * t.bm) / 4;
  const bStage = (t.bk * t.bn) / 4;
  const gather: WeightGradGather = {
    a: { plan: { axis: 'm', vec: t.vec }, threads, contig: t.bm, other: t.bk, regType: 'f32', reg: 'ra' },
    b: { plan: { axis: 'n', vec: t.vec }, threads, contig: t.bn, other: t.bk, regType: 'f32', reg: 'rb' },
    vec: t.vec,
  };
  // Registers -> workgroup memory: chunks run along the staged rows, one vec4 store each.
  const stageStores = (l: TileShape, arr: string, stage: number) =>
    range(chunksPerThread(l)).map((i) => {
      const { o, c } = chunkCoords(l, i);
      return `${arr}[s * ${stage}u + ${o} * ${l.contig / 4}u + ${c} / 4u] = ${l.reg}${i};`;
    });
  const stores = (stage: string) => `{ let s = ${stage}; ${[...stageStores(gather.a, 'As', aStage), ...stageStores(gather.b, 'Bs', bStage)].join(' ')} }`;
  const compute = (stage: string) => `{ let aS = ${stage} * ${aStage}u; let bS = ${stage} * ${bStage}u;
      for (var kk = 0u; kk < ${t.bk}u; kk++) ${registerTileStep(micro, 'kk')} }`;
  const out = registerTileOutputs(micro);
  // partial[split][grp * M + m][n]: the weight layout [Cout, KH, KW, Cg] per split.
  const epilogue = out.rows
    .map(({ g, i, row }) => {
      const cols = out.cols.map(({ h, col }) => `{ let n = n0 + ${col}; let v = ${out.acc(g, i, h)}; for (var e = 0u; e < 4u; e++) { if (n + e < P.N) { partial[at + n + e] = v[e]; } } }`);
      return `{ let m = m0 + ${row}; if (m < P.M) { let at = (split * P.Cout + grp * P.M + m) * P.N;
    ${cols.join('\n    ')} } }`;
    })
    .join('\n  ');
  return /* wgsl */ `${enables(dy, x)}
${weightGradParamsWgsl(t.vec, dy, x)}
var<workgroup> As: array<vec4<f32>, ${t.buffers * aStage}>;
var<workgroup> Bs: array<vec4<f32>, ${t.buffers * bStage}>;

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  ${WEIGHT_GRAD_TILE_WGSL(t.bm, t.bn)}
  ${registerTileGrid(micro)}
  ${weightGradGatherSetup(gather)}
  ${tileRegisters(gather.a)} ${tileRegisters(gather.b)}
  ${registerTileAccumulators(micro)}
  let nk = (pEnd - pBegin + ${t.bk - 1}u) / ${t.bk}u;
  ${stagedKLoop(t.buffers, t.bk, (kBase) => weightGradGatherLoads(gather, kBase), stores, compute)}
  ${epilogue}
}`;
}
