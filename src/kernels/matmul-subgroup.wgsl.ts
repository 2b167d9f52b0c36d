import type { DType } from '../gpu/dtype.js';
import {
  bindingType,
  chunkCoords,
  chunksPerThread,
  MATMUL_PARAMS_WGSL,
  range,
  stagedKLoop,
  TILE_ORDER_WGSL,
  tileLoads,
  tileRegisters,
  type OperandPlan,
  type TileLoad,
} from './matmul-common.wgsl.js';

/**
 * Tensor-core matmul through subgroup matrices (`chromium_experimental_subgroup_matrix`):
 * f16 operands, f32 accumulation. The workgroup is a sgRows x sgCols grid of subgroups,
 * each owning fragsM x fragsN result fragments (64 x 64 of C with 16x16 fragments), so
 * every fragment loaded from workgroup memory feeds fragsN (or fragsM) multiply-adds.
 * Operand tiles of depth bk go global -> registers (vec4<f16>) -> workgroup memory,
 * double-buffered when `buffers` is 2 (one barrier per k step). Staged rows are padded by
 * 8 halves (16 bytes) so the row starts of a fragment fall in different banks.
 * Transposed operands are staged as stored and loaded as column-major fragments, so A^T B
 * and A B^T (backward passes) run at the same speed as A B.
 * Epilogue: interior tiles of a plain f32 row-major C store fragments directly; otherwise
 * each fragment goes through a small f32 scratch so alpha, beta, bias, f16 output,
 * strides and ragged edges are handled element-wise.
 */
export interface SubgroupTiles {
  /** Fragment shape (a device subgroup-matrix config with f16 inputs and f32 results). */
  frag: { m: number; n: number; k: number };
  /** Subgroup size the kernel is built for (the device's, fixed). */
  sgSize: number;
  sgRows: number;
  sgCols: number;
  fragsM: number;
  fragsN: number;
  bk: number;
  buffers: 1 | 2;
}

export interface SubgroupKernel {
  tiles: SubgroupTiles;
  a: OperandPlan;
  b: OperandPlan;
  cType: DType;
  biasType: DType | null;
  beta: boolean;
  sameAB: boolean;
  /** f32 C with unit stride along n, 16-byte aligned rows, no bias/beta and alpha 1: interior tiles store fragments straight to C. */
  direct: boolean;
}

const PAD = 8;

export function subgroupBlock(t: SubgroupTiles): { bm: number; bn: number; threads: number } {
  return { bm: t.sgRows * t.fragsM * t.frag.m, bn: t.sgCols * t.fragsN * t.frag.n, threads: t.sgRows * t.sgCols * t.sgSize };
}

/** Row length (elements, padding included) and row count of the staged A and B tiles. */
function stageShapes(k: SubgroupKernel) {
  const { bm, bn } = subgroupBlock(k.tiles);
  const bk = k.tiles.bk;
  const aRow = k.a.axis === 'k' ? bk + PAD : bm + PAD;
  const bRow = k.b.axis === 'n' ? bn + PAD : bk + PAD;
  return { aRow, bRow, aStage: aRow * (k.a.axis === 'k' ? bm : bk), bStage: bRow * (k.b.axis === 'n' ? bk : bn) };
}

const scratchRow = (t: SubgroupTiles) => t.frag.n + 4;

export function subgroupWorkgroupBytes(k: SubgroupKernel): number {
  const { aStage, bStage } = stageShapes(k);
  const t = k.tiles;
  return 2 * k.tiles.buffers * (aStage + bStage) + 4 * t.sgRows * t.sgCols * t.frag.m * scratchRow(t);
}

export function subgroupKey(k: SubgroupKernel): string {
  const t = k.tiles;
  const plan = (p: OperandPlan) => `${p.axis}${p.vec ? 'v' : 's'}`;
  return [
    `matmul-sgmat:${t.frag.m}x${t.frag.n}x${t.frag.k}/${t.sgSize}:${t.sgRows}x${t.sgCols}x${t.fragsM}x${t.fragsN}x${t.bk}/${t.buffers}`,
    `${plan(k.a)}.${plan(k.b)}${k.sameAB ? '=' : ''}.${k.cType}${k.direct ? 'd' : ''}`,
    `${k.biasType ? `bias${k.biasType}` : ''}${k.beta ? 'beta' : ''}`,
  ].join(':');
}

export function subgroupWgsl(k: SubgroupKernel): string {
  const t = k.tiles;
  const { m: fm, n: fn, k: fk } = t.frag;
  const { bm, bn, threads } = subgroupBlock(t);
  const { aRow, bRow, aStage, bStage } = stageShapes(k);
  const bk = t.bk;
  if (bk % fk !== 0 || bk % 4 !== 0) throw new Error(`matmul: bk ${bk} is not a multiple of the fragment depth ${fk}`);
  const nSub = t.sgRows * t.sgCols;
  const sgM = t.fragsM * fm;
  const sgN = t.fragsN * fn;
  const L = `subgroup_matrix_left<f16, ${fk}, ${fm}>`;
  const R = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  const C = `subgroup_matrix_result<f32, ${fn}, ${fm}>`;

  const aLoad: TileLoad = {
    array: 'A', plan: k.a, threads, regType: 'f16', reg: 'ra',
    base: 'aBase', contigStride: k.a.axis === 'k' ? 'P.sAk' : 'P.sAm', otherStride: k.a.axis === 'k' ? 'P.sAm' : 'P.sAk',
    ...(k.a.axis === 'k'
      ? { contig: bk, other: bm, contigStart: 'kBase', otherStart: 'm0', contigLimit: 'P.K', otherLimit: 'P.M' }
      : { contig: bm, other: bk, contigStart: 'm0', otherStart: 'kBase', contigLimit: 'P.M', otherLimit: 'P.K' }),
  };
  const bLoad: TileLoad = {
    array: k.sameAB ? 'A' : 'B', plan: k.b, threads, regType: 'f16', reg: 'rb',
    base: 'bBase', contigStride: k.b.axis === 'n' ? 'P.sBn' : 'P.sBk', otherStride: k.b.axis === 'n' ? 'P.sBk' : 'P.sBn',
    ...(k.b.axis === 'n'
      ? { contig: bn, other: bk, contigStart: 'n0', otherStart: 'kBase', contigLimit: 'P.N', otherLimit: 'P.K' }
      : { contig: bk, other: bn, contigStart: 'kBase', otherStart: 'n0', contigLimit: 'P.K', otherLimit: 'P.N' }),
  };
  // Staged tiles keep the operand's own layout: row o (the non-contiguous axis), column c.
  const stageStores = (l: TileLoad, arr: string, row: number, stage: number) =>
    range(chunksPerThread(l))
      .map((i) => {
        const { o, c } = chunkCoords(l, i);
        const r = `${l.reg}${i}`;
        return `{ let at = s * ${stage}u + ${o} * ${row}u + ${c}; ${arr}[at] = ${r}.x; ${arr}[at + 1u] = ${r}.y; ${arr}[at + 2u] = ${r}.z; ${arr}[at + 3u] = ${r}.w; }`;
      })
      .join('\n      ');
  const stores = (stage: string) => `{ let s = ${stage};
      ${stageStores(aLoad, 'As', aRow, aStage)}
      ${stageStores(bLoad, 'Bs', bRow, bStage)} }`;
  const loads = (kBase: string) => `{ let kBase = ${kBase};
${tileLoads(aLoad)}
${tileLoads(bLoad)} }`;

  const left = (fi: number, k0: number) =>
    k.a.axis === 'k'
      ? `subgroupMatrixLoad<${L}>(&As, aS + (sm + ${fi * fm}u) * ${aRow}u + ${k0}u, false, ${aRow}u)`
      : `subgroupMatrixLoad<${L}>(&As, aS + ${k0 * aRow}u + sm + ${fi * fm}u, true, ${aRow}u)`;
  const right = (fj: number, k0: number) =>
    k.b.axis === 'n'
      ? `subgroupMatrixLoad<${R}>(&Bs, bS + ${k0 * bRow}u + sn + ${fj * fn}u, false, ${bRow}u)`
      : `subgroupMatrixLoad<${R}>(&Bs, bS + (sn + ${fj * fn}u) * ${bRow}u + ${k0}u, true, ${bRow}u)`;
  const acc = (fi: number, fj: number) => `c${fi}_${fj}`;
  const step = (k0: number) => `{ ${range(t.fragsM).map((fi) => `let a${fi} = ${left(fi, k0)};`).join(' ')}
      ${range(t.fragsN).map((fj) => `let b${fj} = ${right(fj, k0)};`).join(' ')}
      ${range(t.fragsM)
        .flatMap((fi) => range(t.fragsN).map((fj) => `${acc(fi, fj)} = subgroupMatrixMultiplyAccumulate(a${fi}, b${fj}, ${acc(fi, fj)});`))
        .join(' ')} }`;
  const compute = (stage: string) => `{ let aS = ${stage} * ${aStage}u; let bS = ${stage} * ${bStage}u;
      ${range(bk / fk).map((s) => step(s * fk)).join('\n      ')} }`;

  const mainLoop = stagedKLoop(t.buffers, bk, loads, stores, compute);

  // Element-wise epilogue: one fragment of every subgroup per round through the scratch.
  const sr = scratchRow(t);
  const perRound = nSub * fm * fn;
  if (perRound % threads !== 0) throw new Error(`matmul: ${fm}x${fn} fragments do not split over ${t.sgSize}-wide subgroups`);
  const generic = range(t.fragsM)
    .flatMap((fi) =>
      range(t.fragsN).map(
        (fj) => `subgroupMatrixStore(&scratch, sg * ${fm * sr}u, ${acc(fi, fj)}, false, ${sr}u);
    workgroupBarrier();
    for (var e = t; e < ${perRound}u; e += ${threads}u) {
      let s = e / ${fm * fn}u; let r = (e / ${fn}u) % ${fm}u; let q = e % ${fn}u;
      let m = m0 + (s / ${t.sgCols}u) * ${sgM}u + ${fi * fm}u + r;
      let n = n0 + (s % ${t.sgCols}u) * ${sgN}u + ${fj * fn}u + q;
      if (m < P.M && n < P.N) {
        let at = cBase + m * P.sCm + n * P.sCn;
        var v = P.alpha * scratch[s * ${fm * sr}u + r * ${sr}u + q];${k.beta ? '\n        v += P.beta * f32(C[at]);' : ''}${k.biasType ? '\n        v += f32(bias[P.biasOff + n * P.sBias]);' : ''}
        C[at] = ${k.cType}(v);
      }
    }
    workgroupBarrier();`,
      ),
    )
    .join('\n    ');
  const direct = range(t.fragsM)
    .flatMap((fi) =>
      range(t.fragsN).map(
        (fj) => `subgroupMatrixStore(&C, cBase + (m0 + sm + ${fi * fm}u) * P.sCm + n0 + sn + ${fj * fn}u, ${acc(fi, fj)}, false, P.sCm);`,
      ),
    )
    .join('\n    ');
  const epilogue = k.direct
    ? `if (m0 + ${bm}u <= P.M && n0 + ${bn}u <= P.N) {
    ${direct}
  } else {
    ${generic}
  }`
    : generic;

  const bindings = [
    `var<storage, read_write> A: ${bindingType('f16', k.a.vec)};`,
    ...(k.sameAB ? [] : [`var<storage, read_write> B: ${bindingType('f16', k.b.vec)};`]),
    `var<storage, read_write> C: array<${k.cType}>;`,
    ...(k.biasType ? [`var<storage, read_write> bias: array<${k.biasType}>;`] : []),
  ].map((decl, i) => `@group(0) @binding(${i + 1}) ${decl}`);

  return /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Fragment offsets depend on subgroup_id, which the analysis cannot prove subgroup-uniform (it is).
diagnostic(off, chromium.subgroup_matrix_uniformity);
${MATMUL_PARAMS_WGSL}
${bindings.join('\n')}
var<workgroup> As: array<f16, ${t.buffers * aStage}>;
var<workgroup> Bs: array<f16, ${t.buffers * bStage}>;
var<workgroup> scratch: array<f32, ${nSub * fm * sr}>;
${TILE_ORDER_WGSL}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32,
        @builtin(subgroup_id) sg: u32) {
  let tile = tileOf(wg, nwg);
  if (tile.x >= P.tilesM) { return; }
  let m0 = tile.x * ${bm}u;
  let n0 = tile.y * ${bn}u;
  let batch = wg.z;
  let aBase = P.aOff + batch * P.sAb;
  let bBase = P.bOff + batch * P.sBb;
  let cBase = P.cOff + batch * P.sCb;
  let sm = (sg / ${t.sgCols}u) * ${sgM}u;
  let sn = (sg % ${t.sgCols}u) * ${sgN}u;
  ${range(t.fragsM)
    .flatMap((fi) => range(t.fragsN).map((fj) => `var ${acc(fi, fj)} = ${C}();`))
    .join(' ')}
  ${tileRegisters(aLoad)} ${tileRegisters(bLoad)}
  let nk = (P.K + ${bk - 1}u) / ${bk}u;
  ${mainLoop}
  ${epilogue}
}`;
}
