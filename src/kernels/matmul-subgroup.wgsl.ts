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
  type TileShape,
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

/** The tiles' part of a kernel key. */
export function subgroupTilesKey(t: SubgroupTiles): string {
  return `${t.frag.m}x${t.frag.n}x${t.frag.k}/${t.sgSize}:${t.sgRows}x${t.sgCols}x${t.fragsM}x${t.fragsN}x${t.bk}/${t.buffers}`;
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

/** Staged-tile layouts: which axis of each operand is contiguous in workgroup memory (A: 'k' or 'm'; B: 'n' or 'k'). */
export interface StageAxes {
  a: OperandPlan['axis'];
  b: OperandPlan['axis'];
}

/** Row length (elements, padding included) and row count of the staged A and B tiles. */
function stageShapes(t: SubgroupTiles, axes: StageAxes) {
  const { bm, bn } = subgroupBlock(t);
  const bk = t.bk;
  const aRow = axes.a === 'k' ? bk + PAD : bm + PAD;
  const bRow = axes.b === 'n' ? bn + PAD : bk + PAD;
  return { aRow, bRow, aStage: aRow * (axes.a === 'k' ? bm : bk), bStage: bRow * (axes.b === 'n' ? bk : bn) };
}

const scratchRow = (t: SubgroupTiles) => t.frag.n + 4;

/** Workgroup memory of a tensor-core GEMM kernel: staged tiles (f16) and the epilogue scratch (f32). */
export function subgroupWorkgroupBytes(t: SubgroupTiles, axes: StageAxes): number {
  const { aStage, bStage } = stageShapes(t, axes);
  return 2 * t.buffers * (aStage + bStage) + 4 * t.sgRows * t.sgCols * t.frag.m * scratchRow(t);
}

export function subgroupKey(k: SubgroupKernel): string {
  const t = k.tiles;
  const plan = (p: OperandPlan) => `${p.axis}${p.vec ? 'v' : 's'}`;
  return [
    `matmul-sgmat:${subgroupTilesKey(t)}`,
    `${plan(k.a)}.${plan(k.b)}${k.sameAB ? '=' : ''}.${k.cType}${k.direct ? 'd' : ''}`,
    `${k.biasType ? `bias${k.biasType}` : ''}${k.beta ? 'beta' : ''}`,
  ].join(':');
}

/**
 * The part of a tensor-core GEMM shared by matmul and the implicit-GEMM convolutions: the
 * staged k loop over fragments and the element-wise epilogue. The caller describes the two
 * operand tiles (`TileShape`: which axis is contiguous, register names) and emits the
 * loads into the registers itself, so an operand may be a plain matrix or gathered
 * (im2col). The generated statements expect `t` (local index), `sg` (subgroup id), `m0`,
 * `n0` (tile origin) and `P.K` in scope.
 */
export interface SubgroupGemm {
  tiles: SubgroupTiles;
  a: TileShape;
  b: TileShape;
}

/** The shape of operand tile A or B of a tensor-core GEMM (registers `ra*` or `rb*`, f16). */
export function subgroupOperand(t: SubgroupTiles, which: 'a' | 'b', plan: OperandPlan): TileShape {
  const { bm, bn, threads } = subgroupBlock(t);
  const along = which === 'a' ? bm : bn;
  const kContig = plan.axis === 'k';
  return { plan, threads, regType: 'f16', reg: which === 'a' ? 'ra' : 'rb', contig: kContig ? t.bk : along, other: kContig ? along : t.bk };
}

const axesOf = (g: SubgroupGemm): StageAxes => ({ a: g.a.plan.axis, b: g.b.plan.axis });

/** Workgroup-memory declarations (`As`, `Bs`, `scratch`). */
export function subgroupGemmDecls(g: SubgroupGemm): string {
  const t = g.tiles;
  const { aStage, bStage } = stageShapes(t, axesOf(g));
  return `var<workgroup> As: array<f16, ${t.buffers * aStage}>;
var<workgroup> Bs: array<f16, ${t.buffers * bStage}>;
var<workgroup> scratch: array<f32, ${t.sgRows * t.sgCols * t.frag.m * scratchRow(t)}>;`;
}

const acc = (fi: number, fj: number) => `c${fi}_${fj}`;

/**
 * Statements: the subgroup's place in the tile (`sm`, `sn`), accumulators, registers, and
 * the k loop of `nk` (a WGSL expression) steps; `loads(kBase)` fills the registers with the
 * tile starting at k = kBase.
 */
export function subgroupGemmLoop(g: SubgroupGemm, loads: (kBase: string) => string, nk = `(P.K + ${g.tiles.bk - 1}u) / ${g.tiles.bk}u`): string {
  const t = g.tiles;
  const { m: fm, n: fn, k: fk } = t.frag;
  const { aRow, bRow, aStage, bStage } = stageShapes(t, axesOf(g));
  const bk = t.bk;
  if (bk % fk !== 0 || bk % 4 !== 0) throw new Error(`subgroup GEMM: bk ${bk} is not a multiple of the fragment depth ${fk}`);
  const L = `subgroup_matrix_left<f16, ${fk}, ${fm}>`;
  const R = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  // Staged tiles keep the operand's own layout: row o (the non-contiguous axis), column c.
  const stageStores = (l: TileShape, arr: string, row: number, stage: number) =>
    range(chunksPerThread(l))
      .map((i) => {
        const { o, c } = chunkCoords(l, i);
        const r = `${l.reg}${i}`;
        return `{ let at = s * ${stage}u + ${o} * ${row}u + ${c}; ${arr}[at] = ${r}.x; ${arr}[at + 1u] = ${r}.y; ${arr}[at + 2u] = ${r}.z; ${arr}[at + 3u] = ${r}.w; }`;
      })
      .join('\n      ');
  const stores = (stage: string) => `{ let s = ${stage};
      ${stageStores(g.a, 'As', aRow, aStage)}
      ${stageStores(g.b, 'Bs', bRow, bStage)} }`;
  const left = (fi: number, k0: number) =>
    g.a.plan.axis === 'k'
      ? `subgroupMatrixLoad<${L}>(&As, aS + (sm + ${fi * fm}u) * ${aRow}u + ${k0}u, false, ${aRow}u)`
      : `subgroupMatrixLoad<${L}>(&As, aS + ${k0 * aRow}u + sm + ${fi * fm}u, true, ${aRow}u)`;
  const right = (fj: number, k0: number) =>
    g.b.plan.axis === 'n'
      ? `subgroupMatrixLoad<${R}>(&Bs, bS + ${k0 * bRow}u + sn + ${fj * fn}u, false, ${bRow}u)`
      : `subgroupMatrixLoad<${R}>(&Bs, bS + (sn + ${fj * fn}u) * ${bRow}u + ${k0}u, true, ${bRow}u)`;
  const step = (k0: number) => `{ ${range(t.fragsM).map((fi) => `let a${fi} = ${left(fi, k0)};`).join(' ')}
      ${range(t.fragsN).map((fj) => `let b${fj} = ${right(fj, k0)};`).join(' ')}
      ${range(t.fragsM)
        .flatMap((fi) => range(t.fragsN).map((fj) => `${acc(fi, fj)} = subgroupMatrixMultiplyAccumulate(a${fi}, b${fj}, ${acc(fi, fj)});`))
        .join(' ')} }`;
  const compute = (stage: string) => `{ let aS = ${stage} * ${aStage}u; let bS = ${stage} * ${bStage}u;
      ${range(bk / fk).map((s) => step(s * fk)).join('\n      ')} }`;
  return `let sm = (sg / ${t.sgCols}u) * ${t.fragsM * fm}u;
  let sn = (sg % ${t.sgCols}u) * ${t.fragsN * fn}u;
  ${range(t.fragsM)
    .flatMap((fi) => range(t.fragsN).map((fj) => `var ${acc(fi, fj)} = subgroup_matrix_result<f32, ${fn}, ${fm}>();`))
    .join(' ')}
  ${tileRegisters(g.a)} ${tileRegisters(g.b)}
  let nk = ${nk};
  ${stagedKLoop(t.buffers, bk, loads, stores, compute)}`;
}

/**
 * Element-wise epilogue: each accumulator fragment of every subgroup goes through the f32
 * scratch, and the workgroup's threads then run `element` for its elements, with `m`, `n`
 * (absolute row and column; not bounds-checked) and `acc` (the f32 sum) in scope.
 * Consecutive threads take consecutive columns of a row.
 */
export function subgroupScratchEpilogue(g: SubgroupGemm, element: string): string {
  const t = g.tiles;
  const { m: fm, n: fn } = t.frag;
  const { threads } = subgroupBlock(t);
  const sr = scratchRow(t);
  const perRound = t.sgRows * t.sgCols * fm * fn;
  if (perRound % threads !== 0) throw new Error(`subgroup GEMM: ${fm}x${fn} fragments do not split over ${t.sgSize}-wide subgroups`);
  return range(t.fragsM)
    .flatMap((fi) =>
      range(t.fragsN).map(
        (fj) => `subgroupMatrixStore(&scratch, sg * ${fm * sr}u, ${acc(fi, fj)}, false, ${sr}u);
    workgroupBarrier();
    for (var e = t; e < ${perRound}u; e += ${threads}u) {
      let s = e / ${fm * fn}u; let r = (e / ${fn}u) % ${fm}u; let q = e % ${fn}u;
      let m = m0 + (s / ${t.sgCols}u) * ${t.fragsM * fm}u + ${fi * fm}u + r;
      let n = n0 + (s % ${t.sgCols}u) * ${t.fragsN * fn}u + ${fj * fn}u + q;
      let acc = scratch[s * ${fm * sr}u + r * ${sr}u + q];
      ${element}
    }
    workgroupBarrier();`,
      ),
    )
    .join('\n    ');
}

/** The enables and diagnostics every tensor-core kernel starts with, and the `main` parameter naming the subgroup. */
export const SUBGROUP_MATRIX_HEADER = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Fragment offsets depend on subgroup_id, which the analysis cannot prove subgroup-uniform (it is).
diagnostic(off, chromium.subgroup_matrix_uniformity);`;
export const SUBGROUP_ID_PARAM = ',\n        @builtin(subgroup_id) sg: u32';

export function subgroupWgsl(k: SubgroupKernel): string {
  const t = k.tiles;
  const { m: fm, n: fn } = t.frag;
  const { bm, bn, threads } = subgroupBlock(t);
  const aLoad: TileLoad = {
    ...subgroupOperand(t, 'a', k.a),
    array: 'A', base: 'aBase', contigStride: k.a.axis === 'k' ? 'P.sAk' : 'P.sAm', otherStride: k.a.axis === 'k' ? 'P.sAm' : 'P.sAk',
    ...(k.a.axis === 'k'
      ? { contigStart: 'kBase', otherStart: 'm0', contigLimit: 'P.K', otherLimit: 'P.M' }
      : { contigStart: 'm0', otherStart: 'kBase', contigLimit: 'P.M', otherLimit: 'P.K' }),
  };
  const bLoad: TileLoad = {
    ...subgroupOperand(t, 'b', k.b),
    array: k.sameAB ? 'A' : 'B', base: 'bBase', contigStride: k.b.axis === 'n' ? 'P.sBn' : 'P.sBk', otherStride: k.b.axis === 'n' ? 'P.sBk' : 'P.sBn',
    ...(k.b.axis === 'n'
      ? { contigStart: 'n0', otherStart: 'kBase', contigLimit: 'P.N', otherLimit: 'P.K' }
      : { contigStart: 'kBase', otherStart: 'n0', contigLimit: 'P.K', otherLimit: 'P.N' }),
  };
  const gemm: SubgroupGemm = { tiles: t, a: aLoad, b: bLoad };
  const loads = (kBase: string) => `{ let kBase = ${kBase};
${tileLoads(aLoad)}
${tileLoads(bLoad)} }`;

  const generic = subgroupScratchEpilogue(
    gemm,
    `if (m < P.M && n < P.N) {
        let at = cBase + m * P.sCm + n * P.sCn;
        var v = P.alpha * acc;${k.beta ? '\n        v += P.beta * f32(C[at]);' : ''}${k.biasType ? '\n        v += f32(bias[P.biasOff + n * P.sBias]);' : ''}
        C[at] = ${k.cType}(v);
      }`,
  );
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

  return /* wgsl */ `${SUBGROUP_MATRIX_HEADER}
${MATMUL_PARAMS_WGSL}
${bindings.join('\n')}
${subgroupGemmDecls(gemm)}
${TILE_ORDER_WGSL}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32${SUBGROUP_ID_PARAM}) {
  let tile = tileOf(wg, nwg);
  if (tile.x >= P.tilesM) { return; }
  let m0 = tile.x * ${bm}u;
  let n0 = tile.y * ${bn}u;
  let batch = wg.z;
  let aBase = P.aOff + batch * P.sAb;
  let bBase = P.bOff + batch * P.sBb;
  let cBase = P.cOff + batch * P.sCb;
  ${subgroupGemmLoop(gemm, loads)}
  ${epilogue}
}`;
}
