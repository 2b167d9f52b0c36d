import type { DType } from '../gpu/dtype.js';
import type { Tensor } from '../gpu/tensor.js';

/**
 * Tensor-core matmul through subgroup matrices (f16 x f16 -> f32, 16x16x16 fragments).
 * A workgroup of 8 subgroups computes a 128x128 tile of C; subgroup s owns a 32x64
 * region (2x4 fragments: 8 accumulators), so each fragment loaded from workgroup
 * memory feeds 2 or 4 multiply-accumulates. A and B tiles of depth 32 are staged in
 * workgroup memory with 8-byte vector loads; the next tile is fetched into registers
 * while the current one is consumed. Operands may be walked along K or along M/N
 * (transposed operands load as column-major fragments), so backward-pass products
 * (A^T B, A B^T) use the same kernel. The epilogue goes through a 16x16 f32 scratch
 * per subgroup so that bias, alpha/beta, f16 output and ragged edges are handled.
 */
export const SUBGROUP_THREADS = 256;
const BM = 128;
const BN = 128;
const BK = 32;

export interface SubgroupTiles {
  key: string;
  /** A is walked along k (row-major A) rather than along m. */
  aAlongK: boolean;
  /** B is walked along n (row-major B) rather than along k. */
  bAlongN: boolean;
  groups(m: number, n: number, batch: number): [number, number, number];
}

const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);

/** The tile plan when the operands allow 4-element vector loads; null otherwise. */
export function subgroupMatmulTiles(
  m: number,
  n: number,
  k: number,
  aStrides: number[],
  bStrides: number[],
  a: Tensor,
  b: Tensor,
): SubgroupTiles | null {
  if (a.dtype !== 'f16' || b.dtype !== 'f16') return null;
  if ((a.engine.gpu?.limits.subgroupMaxSize ?? 0) !== 32 || a.engine.gpu?.limits.subgroupMinSize !== 32) return null;
  const [sAb, sAm, sAk] = aStrides;
  const [sBb, sBk, sBn] = bStrides;
  const aAlongK = sAk === 1 && aligned(a.offset, sAb, sAm, k);
  const aAlongM = sAm === 1 && aligned(a.offset, sAb, sAk, m);
  const bAlongN = sBn === 1 && aligned(b.offset, sBb, sBk, n);
  const bAlongK = sBk === 1 && aligned(b.offset, sBb, sBn, k);
  if (!(aAlongK || aAlongM) || !(bAlongN || bAlongK)) return null;
  return {
    key: `${aAlongK ? 'ak' : 'am'}${bAlongN ? 'bn' : 'bk'}`,
    aAlongK,
    bAlongN,
    groups: (mm, nn, batch) => [Math.ceil(mm / BM), Math.ceil(nn / BN), batch],
  };
}

export function matmulSubgroupWgsl(t: SubgroupTiles, outDtype: DType, bias: DType | null, beta: boolean): string {
  const range = (n: number) => [...Array(n).keys()];
  // Global -> register loads: 4 vec4<f16> of A and of B per thread and tile.
  const aLoad = (i: number) =>
    t.aAlongK
      ? `{ let L = ${i * 256}u + t; let r = L / 8u; let c = (L % 8u) * 4u; let m = m0 + r; let k = kBase + c;
          ra${i} = select(vec4<f16>(), A[(aBase + m * P.sAm + k) / 4u], m < P.M && k < P.K); }`
      : `{ let L = ${i * 256}u + t; let r = L / 32u; let c = (L % 32u) * 4u; let m = m0 + c; let k = kBase + r;
          ra${i} = select(vec4<f16>(), A[(aBase + k * P.sAk + m) / 4u], m < P.M && k < P.K); }`;
  const bLoad = (i: number) =>
    t.bAlongN
      ? `{ let L = ${i * 256}u + t; let r = L / 32u; let c = (L % 32u) * 4u; let n = n0 + c; let k = kBase + r;
          rb${i} = select(vec4<f16>(), B[(bBase + k * P.sBk + n) / 4u], n < P.N && k < P.K); }`
      : `{ let L = ${i * 256}u + t; let r = L / 8u; let c = (L % 8u) * 4u; let n = n0 + r; let k = kBase + c;
          rb${i} = select(vec4<f16>(), B[(bBase + n * P.sBn + k) / 4u], n < P.N && k < P.K); }`;
  // Register -> workgroup: A as [m][k] (stride BK) or [k][m] (stride BM); B as [k][n] or [n][k].
  const aStore = (i: number) =>
    t.aAlongK
      ? `{ let L = ${i * 256}u + t; let at = (L / 8u) * ${BK}u + (L % 8u) * 4u; As[at] = ra${i}.x; As[at + 1u] = ra${i}.y; As[at + 2u] = ra${i}.z; As[at + 3u] = ra${i}.w; }`
      : `{ let L = ${i * 256}u + t; let at = (L / 32u) * ${BM}u + (L % 32u) * 4u; As[at] = ra${i}.x; As[at + 1u] = ra${i}.y; As[at + 2u] = ra${i}.z; As[at + 3u] = ra${i}.w; }`;
  const bStore = (i: number) =>
    t.bAlongN
      ? `{ let L = ${i * 256}u + t; let at = (L / 32u) * ${BN}u + (L % 32u) * 4u; Bs[at] = rb${i}.x; Bs[at + 1u] = rb${i}.y; Bs[at + 2u] = rb${i}.z; Bs[at + 3u] = rb${i}.w; }`
      : `{ let L = ${i * 256}u + t; let at = (L / 8u) * ${BK}u + (L % 8u) * 4u; Bs[at] = rb${i}.x; Bs[at + 1u] = rb${i}.y; Bs[at + 2u] = rb${i}.z; Bs[at + 3u] = rb${i}.w; }`;
  const leftAt = (fm: number) => (t.aAlongK ? `(sm + ${fm * 16}u) * ${BK}u + kk, false, ${BK}u` : `kk * ${BM}u + sm + ${fm * 16}u, true, ${BM}u`);
  const rightAt = (fn: number) => (t.bAlongN ? `kk * ${BN}u + sn + ${fn * 16}u, false, ${BN}u` : `(sn + ${fn * 16}u) * ${BK}u + kk, true, ${BK}u`);
  const L = 'subgroup_matrix_left<f16, 16, 16>';
  const R = 'subgroup_matrix_right<f16, 16, 16>';
  const C = 'subgroup_matrix_result<f32, 16, 16>';
  const epilogue = range(2)
    .flatMap((fm) =>
      range(4).map(
        (fn) => `
  subgroupMatrixStore(&scratch, sg * 256u, c${fm}_${fn}, false, 16u);
  workgroupBarrier();
  for (var e = 0u; e < 8u; e++) {
    let idx = lane * 8u + e;
    let m = m0 + sm + ${fm * 16}u + idx / 16u;
    let n = n0 + sn + ${fn * 16}u + idx % 16u;
    if (m < P.M && n < P.N) {
      let at = P.oOff + slice * P.sOb + m * P.sOm + n * P.sOn;
      var v = P.alpha * scratch[sg * 256u + idx];
      ${beta ? 'v += P.beta * f32(Cout[at]);' : ''}
      ${bias ? 'v += f32(bias[n]);' : ''}
      Cout[at] = ${outDtype}(v);
    }
  }
  workgroupBarrier();`,
      ),
    )
    .join('');
  return /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);
struct Params { M: u32, N: u32, K: u32, aOff: u32, sAb: u32, sAm: u32, sAk: u32, bOff: u32, sBb: u32, sBk: u32, sBn: u32, oOff: u32, sOb: u32, sOm: u32, sOn: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> B: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read_write> Cout: array<${outDtype}>;
${bias ? `@group(0) @binding(4) var<storage, read_write> bias: array<${bias}>;` : ''}
var<workgroup> As: array<f16, ${BM * BK}>;
var<workgroup> Bs: array<f16, ${BK * BN}>;
var<workgroup> scratch: array<f32, ${8 * 256}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = wg.x * ${BM}u;
  let n0 = wg.y * ${BN}u;
  let slice = wg.z;
  let sm = (sg / 2u) * 32u;
  let sn = (sg % 2u) * 64u;
  let aBase = P.aOff + slice * P.sAb;
  let bBase = P.bOff + slice * P.sBb;
  ${range(2)
    .flatMap((fm) => range(4).map((fn) => `var c${fm}_${fn} = ${C}();`))
    .join(' ')}
  ${range(4).map((i) => `var ra${i} = vec4<f16>(); var rb${i} = vec4<f16>();`).join(' ')}
  var kBase = 0u;
  ${range(4).map(aLoad).join('\n  ')}
  ${range(4).map(bLoad).join('\n  ')}
  loop {
    if (kBase >= P.K) { break; }
    ${range(4).map(aStore).join('\n    ')}
    ${range(4).map(bStore).join('\n    ')}
    workgroupBarrier();
    kBase += ${BK}u;
    if (kBase < P.K) {
      ${range(4).map(aLoad).join('\n      ')}
      ${range(4).map(bLoad).join('\n      ')}
    }
    for (var kk = 0u; kk < ${BK}u; kk += 16u) {
      ${range(2).map((fm) => `let a${fm} = subgroupMatrixLoad<${L}>(&As, ${leftAt(fm)});`).join(' ')}
      ${range(4).map((fn) => `let b${fn} = subgroupMatrixLoad<${R}>(&Bs, ${rightAt(fn)});`).join(' ')}
      ${range(2)
        .flatMap((fm) => range(4).map((fn) => `c${fm}_${fn} = subgroupMatrixMultiplyAccumulate(a${fm}, b${fn}, c${fm}_${fn});`))
        .join(' ')}
    }
    workgroupBarrier();
  }${epilogue}
}`;
}
