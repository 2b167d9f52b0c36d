import type { DType } from '../gpu/dtype.js';
import { enables, linearIndexWgsl } from './launch.js';
import { range, stagedKLoop } from './matmul-common.wgsl.js';
import { registerTileAccumulators, registerTileGrid, registerTileOutputs, registerTileStep, registerTileThreads, type RegisterTile } from './register-tile.wgsl.js';

/**
 * WGSL templates of conv2d (NHWC input, [Cout, KH, KW, Cin/groups] weight):
 *
 * `convGemmWgsl` — implicit GEMM C[M = N*Ho*Wo pixels, N = Cout/groups] = A B with
 * A(m, k) the im2col row of pixel m (k = (kh, kw, ci), gathered from the input view while
 * the tile is loaded; padding reads as 0) and B(k, n) = weight[n, k], computed by the
 * register-blocked micro-kernel of `register-tile.wgsl.ts`. Tiles of depth bk go global ->
 * registers -> workgroup memory (k-major, rows padded by one vec4), double-buffered when
 * `buffers` is 2 (one barrier per k step). The k loop body is unrolled at generation.
 * Which tile each workgroup takes: output-channel tiles fastest, so workgroups running
 * together read the same input pixels (L2 reuse); the weights are small and stay cached.
 *
 * `depthwiseWgsl` — groups == Cin == Cout: memory-bound, so a direct kernel, one thread
 * per output pixel and `lanes` (1 or 4) channels, reading vec4s when the views allow it.
 *
 * Both end in the same epilogue: + bias, * scale + shift (folded BatchNorm), SiLU, one store.
 */

export interface ConvTiles {
  bm: number;
  bn: number;
  bk: 8 | 16 | 32;
  /** Rows and columns of C per thread (multiples of 4). */
  tm: 4 | 8;
  tn: 4 | 8;
  buffers: 1 | 2;
  /**
   * Unroll the k-step loop when generating (constant workgroup-memory offsets). Off by
   * default: drivers unroll a constant 8/16-trip loop themselves, and lavapipe's LLVM
   * takes several times longer to compile the unrolled form.
   */
  unroll?: boolean;
}

export type ConvRole = 'x' | 'w' | 'y' | 'bias' | 'scale' | 'shift';

/** One storage binding: operands that share a storage share it (and its element type). */
export interface ConvBinding {
  dtype: DType;
  vec: boolean;
  roles: ConvRole[];
}

export interface ConvEpilogue {
  bias: boolean;
  affine: boolean;
  silu: boolean;
}

export interface ConvGemmKernel {
  tiles: ConvTiles;
  bindings: ConvBinding[];
  /** How A is gathered: a 1x1 stride-1 unpadded conv reads a plain [pixels, Cin] matrix. */
  a: 'pointwise' | 'tap-aligned' | 'general';
  epilogue: ConvEpilogue;
}

export interface DepthwiseKernel {
  lanes: 1 | 4;
  bindings: ConvBinding[];
  epilogue: ConvEpilogue;
}

/** The parameter block shared by both templates (one u32/i32 word each). */
export const CONV_PARAMS_WGSL = /* wgsl */ `struct Params {
  M: u32, N: u32, K: u32, tilesM: u32, tilesN: u32,
  H: u32, W: u32, Cg: u32, KH: u32, KW: u32, Ho: u32, Wo: u32,
  sh: i32, sw: i32, ph: i32, pw: i32,
  xOff: u32, sxN: u32, sxH: u32, sxW: u32, sxC: u32,
  wOff: u32,
  yOff: u32, syN: u32, syH: u32, syW: u32, syC: u32,
  biasOff: u32, scaleOff: u32, shiftOff: u32,
  invWo: f32, invHW: f32,
}
@group(0) @binding(0) var<uniform> P: Params;`;

const bindingName = (i: number) => `b${i + 1}`;

export function arrayOf(bindings: ConvBinding[], role: ConvRole): { name: string; binding: ConvBinding } {
  const i = bindings.findIndex((b) => b.roles.includes(role));
  if (i < 0) throw new Error(`conv2d: no binding for ${role}`);
  return { name: bindingName(i), binding: bindings[i] };
}

export function bindingDecls(bindings: ConvBinding[]): string {
  return bindings
    .map((b, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> ${bindingName(i)}: array<${b.vec ? `vec4<${b.dtype}>` : b.dtype}>;`)
    .join('\n');
}

export const bindingsKey = (bindings: ConvBinding[]) => bindings.map((b) => `${b.roles.join('+')}=${b.dtype}${b.vec ? 'v' : 's'}`).join(',');
export const epilogueKey = (e: ConvEpilogue) => `${e.bias ? 'b' : ''}${e.affine ? 'a' : ''}${e.silu ? 's' : ''}`;

export function convGemmKey(k: ConvGemmKernel): string {
  const t = k.tiles;
  return `conv2d:${t.bm}x${t.bn}:${t.tm}x${t.tn}:${t.bk}/${t.buffers}${t.unroll ? 'u' : ''}:${k.a}:${bindingsKey(k.bindings)}:${epilogueKey(k.epilogue)}`;
}

export function depthwiseKey(k: DepthwiseKernel): string {
  return `conv2d-dw:${k.lanes}:${bindingsKey(k.bindings)}:${epilogueKey(k.epilogue)}`;
}

export function convWorkgroupBytes(t: ConvTiles): number {
  return 16 * t.buffers * t.bk * (t.bm / 4 + 1 + t.bn / 4 + 1);
}

/**
 * Statements applying the epilogue to the f32 vec4 `v` of channels `co`..`co`+3 (relative
 * to the group: `n` of this GEMM), given per-column-group vectors `eb`, `es`, `et`.
 */
export function epilogueVec(e: ConvEpilogue, suffix: string): string {
  return [
    e.bias ? `v += eb${suffix};` : '',
    e.affine ? `v = v * es${suffix} + et${suffix};` : '',
    e.silu ? 'v = v / (vec4<f32>(1.0) + exp(-v));' : '',
  ].join(' ');
}

/** Declares eb/es/et vec4s for output channels `co`+0..3 (absolute channel index expression), zero past `limit`. */
export function epilogueLoads(e: ConvEpilogue, bindings: ConvBinding[], suffix: string, co: string, limit: string): string {
  if (!e.bias && !e.affine) return '';
  const lines: string[] = [];
  if (e.bias) lines.push(`var eb${suffix} = vec4<f32>();`);
  if (e.affine) lines.push(`var es${suffix} = vec4<f32>(); var et${suffix} = vec4<f32>();`);
  const body: string[] = [];
  if (e.bias) body.push(`eb${suffix}[e] = f32(${arrayOf(bindings, 'bias').name}[P.biasOff + c]);`);
  if (e.affine) {
    body.push(`es${suffix}[e] = f32(${arrayOf(bindings, 'scale').name}[P.scaleOff + c]);`);
    body.push(`et${suffix}[e] = f32(${arrayOf(bindings, 'shift').name}[P.shiftOff + c]);`);
  }
  lines.push(`for (var e = 0u; e < 4u; e++) { if (${co} + e < ${limit}) { let c = ${co} + e; ${body.join(' ')} } }`);
  return lines.join('\n  ');
}

/** Statements applying the epilogue to the f32 scalar `v` of output channel `c` (absolute channel index expression). */
export function epilogueScalar(e: ConvEpilogue, bindings: ConvBinding[], c: string): string {
  return [
    e.bias ? `v += f32(${arrayOf(bindings, 'bias').name}[P.biasOff + ${c}]);` : '',
    e.affine ? `v = v * f32(${arrayOf(bindings, 'scale').name}[P.scaleOff + ${c}]) + f32(${arrayOf(bindings, 'shift').name}[P.shiftOff + ${c}]);` : '',
    e.silu ? 'v = v / (1.0 + exp(-v));' : '',
  ].join(' ');
}

/**
 * `divSmall(n, d, inv)` = floor(n / d) from inv, the f32 reciprocal of d: for quotients below
 * 2^21 the product is off by at most one, which one comparison fixes (a fraction of a u32
 * division's instructions; the tensor-core epilogue decodes every output quad).
 */
export const DIV_SMALL_WGSL = /* wgsl */ `
fn divSmall(n: u32, d: u32, inv: f32) -> u32 {
  var q = u32(f32(n) * inv);
  if (q * d > n) { q -= 1u; } else if ((q + 1u) * d <= n) { q += 1u; }
  return q;
}`;

/**
 * Output pixel m -> (image, row, column) (`pixelOf`, dividing with the parameter block's
 * reciprocals: images and rows stay below 2^21, conv2d checks), the offset of such a pixel in
 * the output view (`outAt`), and of pixel m (`outPixel`).
 */
export const OUT_PIXEL_WGSL = /* wgsl */ `${DIV_SMALL_WGSL}
fn pixelOf(m: u32) -> vec3<u32> {
  let hw = P.Ho * P.Wo;
  let img = divSmall(m, hw, P.invHW);
  let r = m - img * hw;
  let oh = divSmall(r, P.Wo, P.invWo);
  return vec3<u32>(img, oh, r - oh * P.Wo);
}
fn outAt(p: vec3<u32>) -> u32 {
  return P.yOff + p.x * P.syN + p.y * P.syH + p.z * P.syW;
}
fn outPixel(m: u32) -> u32 {
  return outAt(pixelOf(m));
}`;

/** Statement storing f32 vec4 `v` to channels c..c+3 (group-relative `n`..n+3 < limit) of output row `row`. */
export function storeVec(y: { name: string; binding: ConvBinding }, row: string, c: string, n: string, limit: string): string {
  const t = y.binding.dtype;
  if (y.binding.vec) return `if (${n} < ${limit}) { ${y.name}[(${row} + ${c}) / 4u] = vec4<${t}>(v); }`;
  return `for (var e = 0u; e < 4u; e++) { if (${n} + e < ${limit}) { ${y.name}[${row} + (${c} + e) * P.syC] = ${t}(v[e]); } }`;
}

/**
 * The gather of a conv's GEMM operand tiles into registers, shared by the SIMT and the
 * tensor-core kernels: both move tiles as vec4 chunks along k, chunk i of thread t being
 * tile row (i threads + t) / (bk / 4) and k offset 4 ((i threads + t) % (bk / 4)).
 * A (pixels x k) is the im2col of the input view, B (k x output channels) the weight rows.
 */
export interface ConvOperandGather {
  kernel: Pick<ConvGemmKernel, 'a' | 'bindings'>;
  threads: number;
  bk: number;
  /** Chunks of the A and B tiles per thread, and their totals (the last chunk is guarded when a total does not divide). */
  aChunks: number;
  bChunks: number;
  aTotal: number;
  bTotal: number;
  /** Register component type. */
  reg: 'f32' | 'f16';
}

/** Per-thread set-up: each chunk's tile row (pixel of A, output channel of B), decomposed once. */
export function convGatherSetup(g: ConvOperandGather): string {
  const perRow = g.bk / 4;
  const a = range(g.aChunks).map(
    (i) => `let qa${i} = ${i * g.threads}u + t; let al${i} = qa${i} / ${perRow}u; let ac${i} = (qa${i} % ${perRow}u) * 4u;
  let am${i} = m0 + al${i};
  let aok${i} = am${i} < P.M${g.aTotal % g.threads ? ` && qa${i} < ${g.aTotal}u` : ''};
  var ah${i} = 0; var aw${i} = 0; var ab${i} = 0;
  { let px = pixelOf(am${i}); ah${i} = i32(px.y) * P.sh - P.ph; aw${i} = i32(px.z) * P.sw - P.pw;
    ab${i} = i32(P.xOff + px.x * P.sxN + slice * P.Cg * P.sxC) + ah${i} * i32(P.sxH) + aw${i} * i32(P.sxW); }`,
  );
  const b = range(g.bChunks).map(
    (i) => `let qb${i} = ${i * g.threads}u + t; let bl${i} = qb${i} / ${perRow}u; let bc${i} = (qb${i} % ${perRow}u) * 4u;
  let bok${i} = n0 + bl${i} < P.N${g.bTotal % g.threads ? ` && qb${i} < ${g.bTotal}u` : ''};
  let bw${i} = P.wOff + (slice * P.N + n0 + bl${i}) * P.K;`,
  );
  return [...a, ...b].join('\n  ');
}

/** Statements filling registers ra{set}*, rb{set}* with the tiles starting at k = `kBase`; zero in the padding and past the edges. */
export function convGatherLoads(g: ConvOperandGather, kBase: string, set = ''): string {
  const X = arrayOf(g.kernel.bindings, 'x');
  const Wt = arrayOf(g.kernel.bindings, 'w');
  const T = g.reg;
  const xs = X.binding.vec ? '1u' : 'P.sxC';
  // Element offset (i32) of input element (tap row kh, tap column kw, channel ci) for chunk i, and its padding test.
  const inside = (i: number, kh: string, kw: string) => `u32(ah${i} + ${kh}) < P.H && u32(aw${i} + ${kw}) < P.W`;
  const at = (i: number, kh: string, kw: string, ci: string) =>
    `u32(ab${i} + ${kh} * i32(P.sxH) + ${kw} * i32(P.sxW) + i32(${ci} * ${xs}))`;
  const readX = (addr: string) => (X.binding.vec ? `vec4<${T}>(${X.name}[${addr} / 4u])` : `${T}(${X.name}[${addr}])`);
  const tapOf = (kk: string) => `let tap = ${kk} / P.Cg; let ci = ${kk} % P.Cg; let kh = i32(tap / P.KW); let kw = i32(tap % P.KW);`;
  const loadA = (i: number): string => {
    const r = `ra${set}${i}`;
    const head = `${r} = vec4<${T}>();`;
    if (g.kernel.a === 'pointwise') {
      if (X.binding.vec) return `${head} { let kk = kBase + ac${i}; if (aok${i} && kk < P.K) { ${r} = ${readX(`u32(ab${i} + i32(kk))`)}; } }`;
      return `${head} if (aok${i}) { ${range(4)
        .map((e) => `{ let kk = kBase + ac${i} + ${e}u; if (kk < P.K) { ${r}[${e}] = ${readX(`u32(ab${i} + i32(kk * P.sxC))`)}; } }`)
        .join(' ')} }`;
    }
    if (g.kernel.a === 'tap-aligned') {
      // Cg % bk == 0: the whole k tile lies in one (kh, kw) tap, computed once per step (tkh, tkw, tci).
      if (X.binding.vec) return `${head} if (aok${i} && ${inside(i, 'tkh', 'tkw')}) { ${r} = ${readX(at(i, 'tkh', 'tkw', `(tci + ac${i})`))}; }`;
      return `${head} if (aok${i} && ${inside(i, 'tkh', 'tkw')}) { ${range(4)
        .map((e) => `${r}[${e}] = ${readX(at(i, 'tkh', 'tkw', `(tci + ac${i} + ${e}u)`))};`)
        .join(' ')} }`;
    }
    if (X.binding.vec) {
      // Cg % 4 == 0: a chunk of 4 k never crosses a tap.
      return `${head} { let kk = kBase + ac${i}; if (aok${i} && kk < P.K) { ${tapOf('kk')} if (${inside(i, 'kh', 'kw')}) { ${r} = ${readX(at(i, 'kh', 'kw', 'ci'))}; } } }`;
    }
    return `${head} if (aok${i}) { ${range(4)
      .map(
        (e) =>
          `{ let kk = kBase + ac${i} + ${e}u; if (kk < P.K) { ${tapOf('kk')} if (${inside(i, 'kh', 'kw')}) { ${r}[${e}] = ${readX(at(i, 'kh', 'kw', 'ci'))}; } } }`,
      )
      .join(' ')} }`;
  };
  const loadB = (i: number): string => {
    const r = `rb${set}${i}`;
    if (Wt.binding.vec) return `${r} = vec4<${T}>(); { let kk = kBase + bc${i}; if (bok${i} && kk < P.K) { ${r} = vec4<${T}>(${Wt.name}[(bw${i} + kk) / 4u]); } }`;
    return `${r} = vec4<${T}>(); if (bok${i}) { ${range(4)
      .map((e) => `{ let kk = kBase + bc${i} + ${e}u; if (kk < P.K) { ${r}[${e}] = ${T}(${Wt.name}[bw${i} + kk]); } }`)
      .join(' ')} }`;
  };
  return `{ let kBase = ${kBase};
    ${g.kernel.a === 'tap-aligned' ? 'let tap = kBase / P.Cg; let tci = kBase % P.Cg; let tkh = i32(tap / P.KW); let tkw = i32(tap % P.KW);' : ''}
    ${range(g.aChunks).map(loadA).join('\n    ')}
    ${range(g.bChunks).map(loadB).join('\n    ')} }`;
}

/** WGSL: the tile of this workgroup (output-channel tiles fastest, so workgroups running together read the same pixels) and `slice` (group). */
export const CONV_TILE_WGSL = (bm: number, bn: number) => `let linear = wg.x + wg.y * nwg.x;
  if (linear >= P.tilesM * P.tilesN) { return; }
  let m0 = (linear / P.tilesN) * ${bm}u;
  let n0 = (linear % P.tilesN) * ${bn}u;
  let slice = wg.z; // group`;

export function convGemmWgsl(k: ConvGemmKernel): string {
  const { bm, bn, bk, tm, tn, buffers } = k.tiles;
  const threads = registerTileThreads(k.tiles);
  const ra = bm / 4 + 1; // vec4s per staged k row of A (one vec4 of padding)
  const rb = bn / 4 + 1;
  const aStage = bk * ra;
  const bStage = bk * rb;
  const perRow = bk / 4; // vec4 chunks per tile row: both operand tiles are read along k
  const aTotal = bm * perRow;
  const bTotal = bn * perRow;
  const aChunks = Math.ceil(aTotal / threads);
  const bChunks = Math.ceil(bTotal / threads);
  const Y = arrayOf(k.bindings, 'y');
  const gather: ConvOperandGather = { kernel: k, threads, bk, aChunks, bChunks, aTotal, bTotal, reg: 'f32' };

  const loads = (kBase: string) => convGatherLoads(gather, kBase);

  // Registers -> workgroup memory: a chunk runs along k, so its 4 values go down a column.
  const scatter = (arr: string, reg: string, local: string, c: string, row: number, stage: number) =>
    `{ let at = s * ${stage}u + ${local} / 4u; let q = ${local} % 4u; ` +
    range(4)
      .map((e) => `${arr}[at + (${c} + ${e}u) * ${row}u][q] = ${reg}.${'xyzw'[e]};`)
      .join(' ') +
    ' }';
  const stores = (stage: string) => `{ let s = ${stage};
    ${range(aChunks)
      .map((i) => (aTotal % threads && i === aChunks - 1 ? `if (qa${i} < ${aTotal}u) ` : '') + scatter('As', `ra${i}`, `al${i}`, `ac${i}`, ra, aStage))
      .join('\n    ')}
    ${range(bChunks)
      .map((i) => (bTotal % threads && i === bChunks - 1 ? `if (qb${i} < ${bTotal}u) ` : '') + scatter('Bs', `rb${i}`, `bl${i}`, `bc${i}`, rb, bStage))
      .join('\n    ')} }`;

  const micro: RegisterTile = { bm, bn, tm, tn, ra, rb };
  const compute = (stage: string) => `{ let aS = ${stage} * ${aStage}u; let bS = ${stage} * ${bStage}u;
      ${k.tiles.unroll ? range(bk).map((kk) => registerTileStep(micro, `${kk}u`)).join('\n      ') : `for (var kk = 0u; kk < ${bk}u; kk++) ${registerTileStep(micro, 'kk')}`} }`;
  const mainLoop = stagedKLoop(buffers, bk, loads, stores, compute);

  const out = registerTileOutputs(micro);
  const epiLoads = out.cols
    .map(({ h, col }) => epilogueLoads(k.epilogue, k.bindings, `${h}`, `(slice * P.N + n0 + ${col})`, '(slice + 1u) * P.N'))
    .join('\n  ');
  const epilogue = out.rows
    .map(({ g, i, row }) => {
      const cols = out.cols.map(
        ({ h, col }) => `{ let n = n0 + ${col}; var v = ${out.acc(g, i, h)}; ${epilogueVec(k.epilogue, `${h}`)}
      ${storeVec(Y, 'row', '(slice * P.N + n)', 'n', 'P.N')} }`,
      );
      return `{ let m = m0 + ${row}; if (m < P.M) { let row = outPixel(m);
    ${cols.join('\n    ')} } }`;
    })
    .join('\n  ');

  return /* wgsl */ `${enables(...k.bindings.map((b) => b.dtype))}
${CONV_PARAMS_WGSL}
${bindingDecls(k.bindings)}
var<workgroup> As: array<vec4<f32>, ${buffers * aStage}>;
var<workgroup> Bs: array<vec4<f32>, ${buffers * bStage}>;
${OUT_PIXEL_WGSL}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  ${CONV_TILE_WGSL(bm, bn)}
  ${registerTileGrid(micro)}
  ${convGatherSetup(gather)}
  ${range(aChunks).map((i) => `var ra${i} = vec4<f32>();`).join(' ')} ${range(bChunks).map((i) => `var rb${i} = vec4<f32>();`).join(' ')}
  ${registerTileAccumulators(micro)}
  let nk = (P.K + ${bk - 1}u) / ${bk}u;
  ${mainLoop}
  ${epiLoads}
  ${epilogue}
}`;
}

const DW_WG = 256;
export const DEPTHWISE_WG = DW_WG;

export function depthwiseWgsl(k: DepthwiseKernel): string {
  const X = arrayOf(k.bindings, 'x');
  const Wt = arrayOf(k.bindings, 'w');
  const Y = arrayOf(k.bindings, 'y');
  const L = k.lanes;
  const read = L === 4 ? `vec4<f32>(${X.name}[at / 4u])` : `vec4<f32>(f32(${X.name}[at]), 0.0, 0.0, 0.0)`;
  const weight =
    L === 4
      ? `vec4<f32>(${range(4).map((e) => `f32(${Wt.name}[wAt + ${e}u * taps])`).join(', ')})`
      : `vec4<f32>(f32(${Wt.name}[wAt]), 0.0, 0.0, 0.0)`;
  const store =
    L === 4
      ? storeVec(Y, 'row', 'co', 'co', 'P.N')
      : `${Y.name}[row + co * P.syC] = ${Y.binding.dtype}(v.x);`;
  return /* wgsl */ `${enables(...k.bindings.map((b) => b.dtype))}
${CONV_PARAMS_WGSL}
${bindingDecls(k.bindings)}
${OUT_PIXEL_WGSL}
${linearIndexWgsl(DW_WG)}
@compute @workgroup_size(${DW_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  let perPixel = P.N / ${L}u;
  if (i >= P.M * perPixel) { return; }
  let co = (i % perPixel) * ${L}u; // channels fastest: coalesced reads and writes
  let m = i / perPixel;
  let px = pixelOf(m);
  let hi0 = i32(px.y) * P.sh - P.ph;
  let wi0 = i32(px.z) * P.sw - P.pw;
  let base = P.xOff + px.x * P.sxN + co * P.sxC;
  let taps = P.KH * P.KW;
  var v = vec4<f32>();
  for (var kh = 0u; kh < P.KH; kh++) {
    let hi = hi0 + i32(kh);
    if (u32(hi) >= P.H) { continue; }
    for (var kw = 0u; kw < P.KW; kw++) {
      let wi = wi0 + i32(kw);
      if (u32(wi) >= P.W) { continue; }
      let at = base + u32(hi) * P.sxH + u32(wi) * P.sxW;
      let wAt = P.wOff + co * taps + kh * P.KW + kw;
      v = fma(${read}, ${weight}, v);
    }
  }
  ${epilogueLoads(k.epilogue, k.bindings, '', 'co', L === 4 ? 'P.N' : 'co + 1u')}
  ${epilogueVec(k.epilogue, '')}
  let row = outAt(px);
  ${store}
}`;
}
