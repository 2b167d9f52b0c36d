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
  /** Steps the global loads run ahead of the multiply-adds (`stagedKLoop`; absent: 1). */
  ahead?: 2;
}

/** The tiles' part of a kernel key. */
export function subgroupTilesKey(t: SubgroupTiles): string {
  return `${t.frag.m}x${t.frag.n}x${t.frag.k}/${t.sgSize}:${t.sgRows}x${t.sgCols}x${t.fragsM}x${t.fragsN}x${t.bk}/${t.buffers}${t.ahead ? `@${t.ahead}` : ''}`;
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

/** Epilogue scratch the kernels aim to stay within: several fragments per subgroup per round, fewer barriers. */
const SCRATCH_BUDGET = 16384;

/**
 * Fragments each subgroup parks in the scratch per epilogue round: the largest divisor of its
 * fragment count whose scratch (all subgroups) stays within SCRATCH_BUDGET, at least one.
 */
export function scratchFrags(t: SubgroupTiles): number {
  const frags = t.fragsM * t.fragsN;
  const perFrag = 4 * t.sgRows * t.sgCols * t.frag.m * scratchRow(t);
  let best = 1;
  for (let d = 1; d <= frags; d++) if (frags % d === 0 && d * perFrag <= SCRATCH_BUDGET) best = d;
  return best;
}

const scratchElems = (t: SubgroupTiles) => t.sgRows * t.sgCols * scratchFrags(t) * t.frag.m * scratchRow(t);

/** Workgroup memory of a tensor-core GEMM kernel: staged tiles (f16) and the epilogue scratch (f32). */
export function subgroupWorkgroupBytes(t: SubgroupTiles, axes: StageAxes): number {
  const { aStage, bStage } = stageShapes(t, axes);
  return 2 * t.buffers * (aStage + bStage) + 4 * scratchElems(t);
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
var<workgroup> scratch: array<f32, ${scratchElems(t)}>;`;
}

const acc = (fi: number, fj: number) => `c${fi}_${fj}`;

/**
 * Statements: the subgroup's place in the tile (`sm`, `sn`), accumulators, registers, and
 * the k loop of `nk` (a WGSL expression) steps; `loads(kBase, set)` fills the registers
 * (names suffixed by `set`, see `stagedKLoop`) with the tile starting at k = kBase.
 */
export function subgroupGemmLoop(g: SubgroupGemm, loads: (kBase: string, set: string) => string, nk = `(P.K + ${g.tiles.bk - 1}u) / ${g.tiles.bk}u`): string {
  const t = g.tiles;
  const { m: fm, n: fn, k: fk } = t.frag;
  const { aRow, bRow, aStage, bStage } = stageShapes(t, axesOf(g));
  const bk = t.bk;
  if (bk % fk !== 0 || bk % 4 !== 0) throw new Error(`subgroup GEMM: bk ${bk} is not a multiple of the fragment depth ${fk}`);
  const L = `subgroup_matrix_left<f16, ${fk}, ${fm}>`;
  const R = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  // Staged tiles keep the operand's own layout: row o (the non-contiguous axis), column c.
  const stageStores = (l: TileShape, arr: string, row: number, stage: number, set: string) =>
    range(chunksPerThread(l))
      .map((i) => {
        const { o, c } = chunkCoords(l, i);
        const r = `${l.reg}${set}${i}`;
        return `{ let at = s * ${stage}u + ${o} * ${row}u + ${c}; ${arr}[at] = ${r}.x; ${arr}[at + 1u] = ${r}.y; ${arr}[at + 2u] = ${r}.z; ${arr}[at + 3u] = ${r}.w; }`;
      })
      .join('\n      ');
  const stores = (stage: string, set: string) => `{ let s = ${stage};
      ${stageStores(g.a, 'As', aRow, aStage, set)}
      ${stageStores(g.b, 'Bs', bRow, bStage, set)} }`;
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
  ${(t.ahead === 2 ? ['', '_b'] : ['']).map((set) => `${tileRegisters({ ...g.a, reg: g.a.reg + set })} ${tileRegisters({ ...g.b, reg: g.b.reg + set })}`).join('\n  ')}
  let nk = ${nk};
  ${stagedKLoop(t.buffers, bk, loads, stores, compute, t.ahead ?? 1)}`;
}

/**
 * Element-wise epilogue: the accumulator fragments go through the f32 scratch in rounds
 * (each subgroup parks `scratchFrags` of them, one barrier, the workgroup's threads process
 * them, one barrier), and `element` runs for every 4 consecutive columns of a fragment row,
 * with `m`, `n` (absolute row and first column; not bounds-checked) and `acc` (vec4<f32>
 * of columns n..n+3) in scope. Consecutive threads take consecutive column quads of a row.
 */
export function subgroupScratchEpilogue(g: SubgroupGemm, element: string): string {
  const t = g.tiles;
  const { m: fm, n: fn } = t.frag;
  const { threads } = subgroupBlock(t);
  const sr = scratchRow(t);
  const per = scratchFrags(t);
  const subgroups = t.sgRows * t.sgCols;
  const quads = subgroups * per * fm * (fn / 4); // column quads processed per round
  if (fn % 4 !== 0 || quads % threads !== 0) throw new Error(`subgroup GEMM: ${fm}x${fn} fragments do not split into column quads over ${threads} threads`);
  const frags = range(t.fragsM).flatMap((fi) => range(t.fragsN).map((fj) => [fi, fj]));
  const rounds = range(frags.length / per).map((round) => {
    const mine = frags.slice(round * per, (round + 1) * per);
    // Slot j of subgroup s holds fragment mine[j] of s; its origin in the workgroup tile:
    const origin = mine
      .map(([fi, fj], j) => `${j === 0 ? '' : ' else '}if (slot == ${j}u) { fr = ${fi * fm}u; fc = ${fj * fn}u; }`)
      .join('');
    return `${mine.map(([fi, fj], j) => `subgroupMatrixStore(&scratch, (sg * ${per}u + ${j}u) * ${fm * sr}u, ${acc(fi, fj)}, false, ${sr}u);`).join('\n    ')}
    workgroupBarrier();
    for (var e = t; e < ${quads}u; e += ${threads}u) {
      let q = (e % ${fn / 4}u) * 4u; let r = (e / ${fn / 4}u) % ${fm}u; let f = e / ${fm * (fn / 4)}u;
      let s = f / ${per}u; let slot = f % ${per}u;
      var fr = 0u; var fc = 0u; ${origin}
      let m = m0 + (s / ${t.sgCols}u) * ${t.fragsM * fm}u + fr + r;
      let n = n0 + (s % ${t.sgCols}u) * ${t.fragsN * fn}u + fc + q;
      let at = f * ${fm * sr}u + r * ${sr}u + q;
      let acc = vec4<f32>(scratch[at], scratch[at + 1u], scratch[at + 2u], scratch[at + 3u]);
      ${element}
    }
    workgroupBarrier();`;
  });
  return rounds.join('\n    ');
}

/**
 * Epilogue of a GEMM whose result goes unchanged to an f32 row-major matrix: workgroups whose
 * tile lies wholly inside (`rows` x `cols`) store each fragment straight from the subgroup
 * (`rowStart(row)`: element offset of row `row`, a WGSL expression; `stride`: the row stride);
 * edge workgroups run `fallback`.
 */
export function subgroupDirectEpilogue(g: SubgroupGemm, array: string, rowStart: (row: string) => string, stride: string, rows: string, cols: string, fallback: string): string {
  const t = g.tiles;
  const { m: fm, n: fn } = t.frag;
  const { bm, bn } = subgroupBlock(t);
  const stores = range(t.fragsM).flatMap((fi) =>
    range(t.fragsN).map((fj) => `subgroupMatrixStore(&${array}, ${rowStart(`(m0 + sm + ${fi * fm}u)`)} + n0 + sn + ${fj * fn}u, ${acc(fi, fj)}, false, ${stride});`),
  );
  return `if (m0 + ${bm}u <= ${rows} && n0 + ${bn}u <= ${cols}) {
    ${stores.join('\n    ')}
  } else {
    ${fallback}
  }`;
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
  const loads = (kBase: string, set: string) => `{ let kBase = ${kBase};
${tileLoads({ ...aLoad, reg: aLoad.reg + set })}
${tileLoads({ ...bLoad, reg: bLoad.reg + set })} }`;

  const generic = subgroupScratchEpilogue(
    gemm,
    `if (m < P.M) { for (var e = 0u; e < 4u; e++) { let col = n + e; if (col < P.N) {
        let at = cBase + m * P.sCm + col * P.sCn;
        var v = P.alpha * acc[e];${k.beta ? '\n        v += P.beta * f32(C[at]);' : ''}${k.biasType ? '\n        v += f32(bias[P.biasOff + col * P.sBias]);' : ''}
        C[at] = ${k.cType}(v);
      } } }`,
  );
  const epilogue = k.direct ? subgroupDirectEpilogue(gemm, 'C', (row) => `cBase + ${row} * P.sCm`, 'P.sCm', 'P.M', 'P.N', generic) : generic;

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
