import type { DType } from '../gpu/dtype.js';
import { enables } from './launch.js';

/**
 * The tiled SIMT GEMM core shared by matmul and conv2d (implicit GEMM):
 * C[M, N] = sum_k A(m, k) B(k, n), one workgroup per BM x BN tile of C (and per
 * `wg.z` slice: matmul batch or conv group), 256 threads each owning TM x TN
 * outputs on an interleaved grid (rows ty + 16 i, columns tx + 16 j: conflict-free
 * workgroup-memory reads and coalesced stores). A and B tiles of depth BK are staged
 * in workgroup memory; the next tile's global loads are issued into registers before
 * the current tile is consumed. All loops are unrolled when the source is generated,
 * so accumulators stay in registers.
 *
 * An op plugs in how to read A and B (`loadA`/`loadB`, WGSL expressions over the
 * index variables) and how to write a result (`store`), plus its bindings and
 * parameters; the core handles tiling and M/N/K bounds.
 */
export interface GemmTiles {
  bm: 64 | 128;
  bn: 32 | 64 | 128;
  bk: 8 | 16;
}

export interface GemmSource {
  /** Element types of the storage arrays A and B are read from (shared memory is f32). */
  dtypes: DType[];
  /** WGSL fields appended to the Params struct (after M, N, K). */
  params: string;
  /** Storage binding declarations (bindings 1..n). */
  bindings: string;
  /** Helper functions the hooks use. */
  helpers?: string;
  /** Statements run once per thread; `aRow` (global m of this thread's A loads) and `slice` (wg.z) are in scope. */
  setup?: string;
  /** f32 expression for A(m = aRow, k) where k < K and aRow < M are guaranteed. */
  loadA: (k: string) => string;
  /** f32 expression for B(k, n), k < K and n < N guaranteed; `slice` in scope. */
  loadB: (k: string, n: string) => string;
  /** Statement writing f32 `v` to C(m, n), m < M and n < N guaranteed; `slice` and `row` in scope. */
  store: (m: string, n: string, v: string) => string;
  /** u32 expression computed once per output row m and visible to `store` as `row` (e.g. the row's base offset). */
  rowBase?: (m: string) => string;
  /** Which way B tiles are walked by consecutive threads: along k (B^T contiguous) or along n. */
  bWalk: 'k' | 'n';
  /** Diagnostic: reuse the first tiles for every k step (no global loads in the loop) to time the inner loop alone. */
  computeOnly?: boolean;
}

export const GEMM_THREADS = 256;

export function gemmGroups(tiles: GemmTiles, m: number, n: number, slices: number): [number, number, number] {
  return [Math.ceil(m / tiles.bm), Math.ceil(n / tiles.bn), slices];
}

/** Picks tiles for a problem: narrow N tiles for few output channels, smaller M tiles for small M. */
export function chooseTiles(m: number, n: number): GemmTiles {
  const bn = n <= 32 ? 32 : n <= 64 ? 64 : 128;
  // Prefer 128-row tiles, but not at the price of too few workgroups to fill a large GPU (~4 waves of 132 SMs).
  const bm = Math.ceil(m / 128) * Math.ceil(n / bn) < 4 * 132 ? 64 : 128;
  return { bm, bn, bk: 16 };
}

export function tilesKey(t: GemmTiles): string {
  return `${t.bm}x${t.bn}x${t.bk}`;
}

export function gemmWgsl(tiles: GemmTiles, src: GemmSource): string {
  const { bm, bn, bk } = tiles;
  const tm = bm / 16;
  const tn = bn / 16;
  const la = (bm * bk) / GEMM_THREADS; // A elements each thread loads per tile
  const lb = (bn * bk) / GEMM_THREADS;
  const aThreadsPerRow = bk / la;
  const range = (n: number) => [...Array(n).keys()];
  const loadARegs = range(la)
    .map((e) => `    { let k = kBase + aK + ${e}u; ra${e} = select(0.0, ${src.loadA('k')}, aRowOk && k < P.K); }`)
    .join('\n');
  // B: walked along k (each thread takes lb consecutive k of one column) or along n.
  const bSetup =
    src.bWalk === 'k'
      ? `let bN = n0 + t / ${bk / lb}u; let bK = (t % ${bk / lb}u) * ${lb}u;`
      : `let bK = t / ${bn / lb}u; let bN0 = n0 + (t % ${bn / lb}u) * ${lb}u;`;
  const loadBRegs = range(lb)
    .map((e) => {
      const [k, n] = src.bWalk === 'k' ? [`kBase + bK + ${e}u`, 'bN'] : ['kBase + bK', `bN0 + ${e}u`];
      return `    { let k = ${k}; let n = ${n}; rb${e} = select(0.0, ${src.loadB('k', 'n')}, k < P.K && n < P.N); }`;
    })
    .join('\n');
  const storeA = range(la).map((e) => `  As[(aK + ${e}u) * ${bm}u + aLocal] = ra${e};`).join('\n');
  const storeB = range(lb)
    .map((e) =>
      src.bWalk === 'k'
        ? `  Bs[(bK + ${e}u) * ${bn}u + (bN - n0)] = rb${e};`
        : `  Bs[bK * ${bn}u + (bN0 - n0) + ${e}u] = rb${e};`,
    )
    .join('\n');
  const fma = range(tm)
    .flatMap((i) => range(tn).map((j) => `c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`))
    .join(' ');
  const stores = range(tm)
    .map((i) => {
      const cols = range(tn)
        .map((j) => `    { let n = n0 + tx + ${16 * j}u; if (n < P.N) { ${src.store('m', 'n', `c${i}_${j}`)} } }`)
        .join('\n');
      return `  { let m = m0 + ty + ${16 * i}u; if (m < P.M) { let row = ${src.rowBase ? src.rowBase('m') : '0u'};\n${cols}\n  } }`;
    })
    .join('\n');
  return /* wgsl */ `${enables(...src.dtypes)}
struct Params { M: u32, N: u32, K: u32, ${src.params} }
@group(0) @binding(0) var<uniform> P: Params;
${src.bindings}
var<workgroup> As: array<f32, ${bk * bm}>;
var<workgroup> Bs: array<f32, ${bk * bn}>;
${src.helpers ?? ''}
@compute @workgroup_size(${GEMM_THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wg.x * ${bm}u;
  let n0 = wg.y * ${bn}u;
  let slice = wg.z;
  let tx = t % 16u;
  let ty = t / 16u;
  let aLocal = t / ${aThreadsPerRow}u;
  let aRow = m0 + aLocal;
  let aRowOk = aRow < P.M;
  let aK = (t % ${aThreadsPerRow}u) * ${la}u;
  ${bSetup}
  ${src.setup ?? ''}
  ${range(tm)
    .flatMap((i) => range(tn).map((j) => `var c${i}_${j} = 0.0;`))
    .join(' ')}
  ${range(la).map((e) => `var ra${e} = 0.0;`).join(' ')}
  ${range(lb).map((e) => `var rb${e} = 0.0;`).join(' ')}
  var kBase = 0u;
${loadARegs}
${loadBRegs}
  loop {
    if (kBase >= P.K) { break; }
${storeA}
${storeB}
    workgroupBarrier();
    kBase += ${bk}u;
    if (${src.computeOnly ? 'false' : 'kBase < P.K'}) {
${loadARegs}
${loadBRegs}
    }
    for (var kk = 0u; kk < ${bk}u; kk++) {
      ${range(tm).map((i) => `let a${i} = As[kk * ${bm}u + ty + ${16 * i}u];`).join(' ')}
      ${range(tn).map((j) => `let b${j} = Bs[kk * ${bn}u + tx + ${16 * j}u];`).join(' ')}
      ${fma}
    }
    workgroupBarrier();
  }
${stores}
}`;
}
