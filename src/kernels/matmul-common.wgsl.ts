import type { DType } from '../gpu/dtype.js';

/**
 * Pieces shared by the matmul kernel families (SIMT and subgroup-matrix): the parameter
 * block, the tile order, and the code that moves one operand tile from global memory
 * into registers.
 *
 * Operand geometry: A(m, k) lives at aOff + batch sAb + m sAm + k sAk, B(k, n) at
 * bOff + batch sBb + k sBk + n sBn, C(m, n) at cOff + batch sCb + m sCm + n sCn
 * (a batch stride of 0 broadcasts). A transposed operand is just a view with swapped
 * strides, so one kernel serves A B, A^T B, A B^T and A^T B^T.
 */
export const MATMUL_PARAMS_WGSL = /* wgsl */ `struct Params {
  M: u32, N: u32, K: u32, tilesM: u32, tilesN: u32,
  aOff: u32, sAb: u32, sAm: u32, sAk: u32,
  bOff: u32, sBb: u32, sBk: u32, sBn: u32,
  cOff: u32, sCb: u32, sCm: u32, sCn: u32,
  biasOff: u32, sBias: u32, alpha: f32, beta: f32,
}
@group(0) @binding(0) var<uniform> P: Params;`;

/**
 * Which axis of an operand tile is contiguous in memory (unit stride) and whether it can
 * be read as aligned vec4s. `axis` names the axis walked by consecutive threads: for A
 * 'k' (row-major A) or 'm' (A^T stored row-major), for B 'n' (row-major) or 'k'.
 */
export interface OperandPlan {
  axis: 'm' | 'n' | 'k';
  /** vec4 loads: unit stride on `axis`, and offset, other strides and the extent of `axis` all multiples of 4. */
  vec: boolean;
}

/** Tile rows of this many tiles are walked together so neighbouring workgroups share operand rows in L2. */
const TILE_GROUP = 8;

/**
 * WGSL: `tileOf(wg, nwg)` maps the (folded) workgroup id to the (tm, tn) tile it computes,
 * grouped by TILE_GROUP tile rows; returns tm = tilesM past the last tile.
 */
export const TILE_ORDER_WGSL = /* wgsl */ `
fn tileOf(wg: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let linear = wg.x + wg.y * nwg.x;
  if (linear >= P.tilesM * P.tilesN) { return vec2<u32>(P.tilesM, 0u); }
  let perGroup = ${TILE_GROUP}u * P.tilesN;
  let first = (linear / perGroup) * ${TILE_GROUP}u;
  let rows = min(P.tilesM - first, ${TILE_GROUP}u);
  let local = linear % perGroup;
  return vec2<u32>(first + local % rows, local / rows);
}`;

/** Workgroup grid for tilesM x tilesN tiles (folded into x, y under the per-dimension limit) and the batch in z. */
export function tileGrid(tiles: number, batch: number, limit: number): [number, number, number] {
  if (tiles <= limit) return [tiles, 1, batch];
  const y = Math.ceil(tiles / limit);
  return [Math.ceil(tiles / y), y, batch];
}

/** The WGSL storage array type a binding is declared with. */
export function bindingType(dtype: DType, vec: boolean): string {
  return vec ? `array<vec4<${dtype}>>` : `array<${dtype}>`;
}

/** An operand tile as moved in vec4 chunks by a workgroup: its extents, the threads moving it and their registers. */
export interface TileShape {
  plan: OperandPlan;
  threads: number;
  /** Tile extent along the contiguous axis and along the other one. */
  contig: number;
  other: number;
  /** Component type of the registers (f32 for the SIMT kernel, f16 for the tensor-core one). */
  regType: 'f32' | 'f16';
  /** Register name prefix. */
  reg: string;
}

/** A tile read from a strided matrix. */
export interface TileLoad extends TileShape {
  /** Binding array to read. */
  array: string;
  /** WGSL u32 expressions: element base (offset + batch), tile origin on both axes, their limits and strides. */
  base: string;
  contigStart: string;
  otherStart: string;
  contigLimit: string;
  otherLimit: string;
  contigStride: string;
  otherStride: string;
}

/** How many vec4 chunks of a tile each thread moves. */
export function chunksPerThread(l: Pick<TileShape, 'contig' | 'other' | 'threads'>): number {
  const chunks = (l.contig * l.other) / 4 / l.threads;
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error(`matmul: a ${l.other}x${l.contig} tile does not split into vec4s over ${l.threads} threads`);
  return chunks;
}

/** Local coordinates (other, contig) of chunk i of thread t, as WGSL expressions. */
export function chunkCoords(l: TileShape, i: number): { o: string; c: string } {
  const perRow = l.contig / 4;
  const chunk = `(${i * l.threads}u + t)`;
  return { o: `(${chunk} / ${perRow}u)`, c: `((${chunk} % ${perRow}u) * 4u)` };
}

/** Declarations of the chunk registers. */
export function tileRegisters(l: TileShape): string {
  return [...Array(chunksPerThread(l)).keys()].map((i) => `var ${l.reg}${i} = vec4<${l.regType}>();`).join(' ');
}

/**
 * Statements loading the tile that starts at k = `kStart` into the registers, zero outside
 * the matrix. vec4 plans read one aligned vec4 (the axis extent is a multiple of 4, so a
 * chunk is wholly in or out); others read four scalars with their own checks.
 */
export function tileLoads(l: TileLoad): string {
  const out: string[] = [];
  for (let i = 0; i < chunksPerThread(l); i++) {
    const { o, c } = chunkCoords(l, i);
    const r = `${l.reg}${i}`;
    const head = `let o = ${l.otherStart} + ${o}; let c = ${l.contigStart} + ${c}; ${r} = vec4<${l.regType}>();`;
    if (l.plan.vec) {
      out.push(
        `{ ${head} if (o < ${l.otherLimit} && c < ${l.contigLimit}) { ${r} = vec4<${l.regType}>(${l.array}[(${l.base} + o * ${l.otherStride} + c) / 4u]); } }`,
      );
    } else {
      const lanes = ['x', 'y', 'z', 'w']
        .map((lane, e) => `if (c + ${e}u < ${l.contigLimit}) { ${r}.${lane} = ${l.regType}(${l.array}[row + (c + ${e}u) * ${l.contigStride}]); }`)
        .join(' ');
      out.push(`{ ${head} if (o < ${l.otherLimit}) { let row = ${l.base} + o * ${l.otherStride}; ${lanes} } }`);
    }
  }
  return out.join('\n');
}

export const range = (n: number): number[] => [...Array(n).keys()];

/**
 * The k loop over tiles of depth `bk` staged through workgroup memory, shared by the GEMM
 * kernels: `loads(kBase, set)` reads a tile into registers (register names suffixed by
 * `set`), `stores(stage, set)` writes them to a stage, `compute(stage)` accumulates from it.
 * Double-buffered (one barrier per step: the next tile is read while the current one is
 * computed) when `buffers` is 2. With `ahead` 2 the loads run two steps ahead into two
 * register sets ('' and '_b', alternating: the loop body is generated twice), so two steps
 * of multiply-adds hide each load's latency instead of one.
 */
export function stagedKLoop(
  buffers: 1 | 2,
  bk: number,
  loads: (kBase: string, set: string) => string,
  stores: (stage: string, set: string) => string,
  compute: (stage: string) => string,
  ahead: 1 | 2 = 1,
): string {
  const at = (step: string) => `(${step}) * ${bk}u`;
  if (ahead === 2) {
    // Step kt + j of a pair (j = 0, 1) stages register set sets[j], then refills it for step kt + j + 2.
    const sets = ['', '_b'];
    const step = (j: number) =>
      buffers === 2
        ? `if (kt + ${j + 2}u < nk) ${loads(at(`kt + ${j + 2}u`), sets[j])}
    ${compute(`${j}u`)}
    if (kt + ${j + 1}u < nk) ${stores(`${1 - j}u`, sets[1 - j])}
    workgroupBarrier();`
        : `${stores('0u', sets[j])}
    workgroupBarrier();
    if (kt + ${j + 2}u < nk) ${loads(at(`kt + ${j + 2}u`), sets[j])}
    ${compute('0u')}
    workgroupBarrier();`;
    // Two buffers: step 0 is staged before the loop, each step stages the next one into the other buffer.
    const prologue = buffers === 2 ? `${stores('0u', '')} workgroupBarrier();` : '';
    return `${loads('0u', '')}
  ${prologue}
  if (1u < nk) ${loads(at('1u'), '_b')}
  for (var kt = 0u; kt < nk; kt += 2u) {
    ${step(0)}
    if (kt + 1u < nk) {
    ${step(1)}
    }
  }`;
  }
  return buffers === 2
    ? `${loads('0u', '')}
  ${stores('0u', '')}
  workgroupBarrier();
  for (var kt = 0u; kt < nk; kt++) {
    let cur = kt & 1u;
    if (kt + 1u < nk) ${loads(at('kt + 1u'), '')}
    ${compute('cur')}
    if (kt + 1u < nk) ${stores('cur ^ 1u', '')}
    workgroupBarrier();
  }`
    : `${loads('0u', '')}
  for (var kt = 0u; kt < nk; kt++) {
    ${stores('0u', '')}
    workgroupBarrier();
    if (kt + 1u < nk) ${loads(at('kt + 1u'), '')}
    ${compute('0u')}
    workgroupBarrier();
  }`;
}
