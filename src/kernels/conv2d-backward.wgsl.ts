import type { DType } from '../gpu/dtype.js';
import { enables, linearIndexWgsl } from './launch.js';

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
 * Tiles of BK pixels are staged in workgroup memory along m and n; each thread owns a
 * 4 x 4 block of the BM x BN tile.
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
  bm: 16 | 32 | 64;
  bn: 16 | 32 | 64;
  /**
   * vec4 loads: Cout/groups and Cin/groups multiples of 4, unit channel strides and every
   * other stride and offset a multiple of 4 (four columns of a tile row are one load).
   */
  vec: boolean;
}

export const WGRAD_BK = 16;

/**
 * The weight gradient's parameter block, bindings (partial sums, dy, x) and operand readers,
 * shared by the SIMT and the tensor-core kernels: `dyVec(p, grp, m)` reads dy at output pixel
 * p, channels m..m+3 of group grp; `xVec(p, grp, n)` the input under pixel p for columns
 * n..n+3 = (kh, kw, ci). Both return f32 and zero outside the tensors and in the padding.
 */
export function weightGradCommonWgsl(vec: boolean, dy: DType, x: DType): string {
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
@group(0) @binding(3) var<storage, read_write> xs: array<${vec ? `vec4<${x}>` : x}>;
/** Offset of output pixel p (linear over N, Ho, Wo) in dy. */
fn dyPixel(p: u32) -> u32 {
  let hw = P.Ho * P.Wo;
  let r = p % hw;
  return P.gOff + (p / hw) * P.sgN + (r / P.Wo) * P.sgH + (r % P.Wo) * P.sgW;
}

/** dy[p, channels c..c+3] (zero past M within the group). */
fn dyVec(p: u32, grp: u32, m: u32) -> vec4<f32> {
  let at = dyPixel(p) + (grp * P.M + m) * P.sgC;
  ${
    vec
      ? 'return vec4<f32>(gy[at / 4u]);'
      : `var v = vec4<f32>();
  for (var e = 0u; e < 4u; e++) { if (m + e < P.M) { v[e] = f32(gy[at + e * P.sgC]); } }
  return v;`
  }
}

/** x under output pixel p for columns n..n+3 = (kh, kw, ci) of group grp; 0 in the padding and past N. */
fn xVec(p: u32, grp: u32, n: u32) -> vec4<f32> {
  let hw = P.Ho * P.Wo;
  let r = p % hw;
  let base = P.xOff + (p / hw) * P.sxN;
  let oh = i32(r / P.Wo) * P.sh - P.ph;
  let ow = i32(r % P.Wo) * P.sw - P.pw;
  ${
    vec
      ? `// Cg % 4 == 0: the four columns share one tap.
  let tap = n / P.Cg;
  let hi = oh + i32(tap / P.KW);
  let wi = ow + i32(tap % P.KW);
  if (u32(hi) >= P.H || u32(wi) >= P.W) { return vec4<f32>(); }
  return vec4<f32>(xs[(base + u32(hi) * P.sxH + u32(wi) * P.sxW + grp * P.Cg + n % P.Cg) / 4u]);`
      : `var v = vec4<f32>();
  for (var e = 0u; e < 4u; e++) {
    let col = n + e;
    let tap = col / P.Cg;
    let hi = oh + i32(tap / P.KW);
    let wi = ow + i32(tap % P.KW);
    if (col < P.N && u32(hi) < P.H && u32(wi) < P.W) {
      v[e] = f32(xs[base + u32(hi) * P.sxH + u32(wi) * P.sxW + (grp * P.Cg + col % P.Cg) * P.sxC]);
    }
  }
  return v;`
  }
}

`;
}

export function weightGradWgsl(t: WeightGradTiles, dy: DType, x: DType): string {
  const threads = (t.bm / 4) * (t.bn / 4);
  const bk = WGRAD_BK;
  return /* wgsl */ `${enables(dy, x)}
${weightGradCommonWgsl(t.vec, dy, x)}
const BM: u32 = ${t.bm}u;
const BN: u32 = ${t.bn}u;
const BK: u32 = ${bk}u;
const THREADS: u32 = ${threads}u;
var<workgroup> As: array<vec4<f32>, ${(bk * t.bm) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(bk * t.bn) / 4}>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = (wg.x / P.tilesN) * BM;
  let n0 = (wg.x % P.tilesN) * BN;
  let grp = wg.y;
  let split = wg.z;
  let pBegin = split * P.splitLen;
  let pEnd = min(pBegin + P.splitLen, P.pixels);
  let tx = t % (BN / 4u);
  let ty = t / (BN / 4u);
  var acc: array<vec4<f32>, 4>;
  for (var p0 = pBegin; p0 < pEnd; p0 += BK) {
    for (var q = t; q < BK * BM / 4u; q += THREADS) {
      let kk = q / (BM / 4u);
      let m = m0 + (q % (BM / 4u)) * 4u;
      var v = vec4<f32>();
      if (p0 + kk < pEnd && m < P.M) { v = dyVec(p0 + kk, grp, m); }
      As[q] = v;
    }
    for (var q = t; q < BK * BN / 4u; q += THREADS) {
      let kk = q / (BN / 4u);
      let n = n0 + (q % (BN / 4u)) * 4u;
      var v = vec4<f32>();
      if (p0 + kk < pEnd && n < P.N) { v = xVec(p0 + kk, grp, n); }
      Bs[q] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = As[kk * (BM / 4u) + ty];
      let b = Bs[kk * (BN / 4u) + tx];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }
  // partial[split][grp * M + m][n]: the weight layout [Cout, KH, KW, Cg] per split.
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= P.M) { continue; }
    let row = (split * P.Cout + grp * P.M + m) * P.N;
    for (var e = 0u; e < 4u; e++) {
      let n = n0 + tx * 4u + e;
      if (n < P.N) { partial[row + n] = acc[i][e]; }
    }
  }
}`;
}
