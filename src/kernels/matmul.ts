import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { launch, Params } from './launch.js';
import { tileGrid, type OperandPlan } from './matmul-common.wgsl.js';
import { simtKey, simtWgsl, simtWorkgroupBytes, type SimtKernel, type SimtTiles } from './matmul-simt.wgsl.js';
import { subgroupBlock, subgroupKey, subgroupWgsl, subgroupWorkgroupBytes, type SubgroupKernel, type SubgroupTiles } from './matmul-subgroup.wgsl.js';
import { overThreadLimit, tileLimits, withinThreadLimit } from './subgroup-tiles.js';

export type MatmulPath = 'simt' | 'subgroup-matrix';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  /** Added along N: a [N] vector (any stride). */
  bias?: Tensor;
  /** Write into this view (shape [M, N] or [batch, M, N]) instead of a new tensor. */
  out?: Tensor;
  /** C = alpha op(A) op(B) + beta C (+ bias); beta needs `out`. */
  alpha?: number;
  beta?: number;
  /** Dtype of a new output (default: A's). */
  outDtype?: DType;
  category?: Category;
  /** Force a path (benchmarks); by default the fastest available one is taken. */
  path?: MatmulPath;
  /**
   * Force a tile configuration (benchmarks): SIMT `BMxBNxBK` (e.g. `128x128x8`), subgroup
   * matrix `ROWSxCOLS:SGMxSGN:BK` (subgroup grid, subgroup tile, depth, e.g. `2x2:64x64:32`);
   * either with an optional `/1` or `/2` staging-buffer count.
   */
  variant?: string;
}

/** SIMT tile configurations, largest first (the default choice walks this list). */
export const SIMT_VARIANTS = ['128x128x8', '128x64x16', '64x128x16', '64x64x16'] as const;
/**
 * Subgroup-matrix configurations benchmarks sweep; the default choice uses the first (large
 * products: the fastest in the H100 sweep of 2026-11-22, bench/RESULTS.md) and the last.
 */
export const SUBGROUP_VARIANTS = ['2x4:64x64:32', '2x2:64x64:32', '2x4:64x32:32', '4x2:32x64:32', '2x2:32x32:32'] as const;

/** Workgroups wanted before a larger tile is preferred: about two per SM of a large GPU. */
const TARGET_GROUPS = 264;

const FLOAT: readonly DType[] = ['f32', 'f16'];

/** The f16 x f16 -> f32 subgroup-matrix fragment shape of this engine's device, or null. */
export function subgroupFragment(engine: Engine): { m: number; n: number; k: number } | null {
  const f = engine.features;
  if (!f.subgroupMatrix || !f.shaderF16) return null;
  const sizes = [engine.gpu?.limits.subgroupMinSize ?? 32, engine.gpu?.limits.subgroupMaxSize ?? 32];
  if (sizes[0] !== sizes[1] || sizes[0] < 8) return null; // the kernel is built for one fixed subgroup size
  const configs = f.subgroupMatrixConfigs.filter(
    (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && 32 % c.M === 0 && 32 % c.N === 0 && 32 % c.K === 0,
  );
  if (configs.length === 0) return null;
  const best = configs.find((c) => c.M === 16 && c.N === 16 && c.K === 16) ?? configs.reduce((x, y) => (y.M * y.N * y.K > x.M * x.N * x.K ? y : x));
  return { m: best.M, n: best.N, k: best.K };
}

/** The path matmul takes for these input dtypes on this engine. */
export function matmulPath(engine: Engine, a: DType, b: DType): MatmulPath {
  return a === 'f16' && b === 'f16' && subgroupFragment(engine) ? 'subgroup-matrix' : 'simt';
}

interface MatrixView {
  off: number;
  /** [batch, rows, cols] strides, 0 on size-1 axes. */
  strides: [number, number, number];
}

/** A rank-2/3 operand as [batch, rows, cols] (rows/cols swapped when transposed). */
function asBatched(t: Tensor, transpose: boolean, name: string): { shape: [number, number, number]; view: MatrixView } {
  if (t.rank !== 2 && t.rank !== 3) throw new Error(`matmul: ${name} must have rank 2 or 3, got [${t.shape}]`);
  const shape = (t.rank === 2 ? [1, ...t.shape] : [...t.shape]) as [number, number, number];
  const strides = (t.rank === 2 ? [0, ...t.strides] : [...t.strides]) as [number, number, number];
  if (transpose) {
    [shape[1], shape[2]] = [shape[2], shape[1]];
    [strides[1], strides[2]] = [strides[2], strides[1]];
  }
  // A size-1 axis is never stepped along: stride 0 keeps alignment checks honest and broadcasts the batch.
  for (let i = 0; i < 3; i++) if (shape[i] === 1) strides[i] = 0;
  return { shape, view: { off: t.offset, strides } };
}

/**
 * Which axis consecutive threads walk (the unit-stride one when there is one; otherwise the
 * operand is gathered element-wise, correct but slow) and whether vec4 loads are legal.
 */
function plan(v: MatrixView, rows: number, cols: number, rowAxis: OperandPlan['axis'], colAxis: OperandPlan['axis']): OperandPlan {
  const [sb, sr, sc] = v.strides;
  const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  if (sc === 1 || sr !== 1) return { axis: colAxis, vec: sc === 1 && aligned(v.off, sb, sr, cols) };
  return { axis: rowAxis, vec: aligned(v.off, sb, sc, rows) };
}

function parseBuffers(variant: string): { base: string; buffers: 1 | 2 | null } {
  const [base, b] = variant.split('/');
  if (b !== undefined && b !== '1' && b !== '2') throw new Error(`matmul: variant "${variant}": buffer count must be 1 or 2`);
  return { base, buffers: b === undefined ? null : (Number(b) as 1 | 2) };
}

function simtTiles(m: number, n: number, batch: number, smem: number, variant?: string): SimtTiles {
  const fit = (t: Omit<SimtTiles, 'buffers'>, forced: 1 | 2 | null): SimtTiles => {
    const buffers = forced ?? (simtWorkgroupBytes({ ...t, buffers: 2 }) <= smem ? 2 : 1);
    return { ...t, buffers };
  };
  const parse = (s: string) => {
    const [bm, bn, bk] = s.split('x').map(Number);
    if (![64, 128].includes(bm) || ![64, 128].includes(bn) || ![8, 16].includes(bk) || (bm * bk) / 1024 < 1 || (bn * bk) / 1024 < 1) {
      throw new Error(`matmul: unknown SIMT variant "${s}" (BMxBNxBK with BM, BN in 64|128, BK in 8|16, BM*BK and BN*BK >= 1024)`);
    }
    return { bm, bn, bk } as Omit<SimtTiles, 'buffers'>;
  };
  if (variant) {
    const { base, buffers } = parseBuffers(variant);
    const t = fit(parse(base), buffers);
    if (simtWorkgroupBytes(t) > smem) throw new Error(`matmul: variant "${variant}" needs ${simtWorkgroupBytes(t)} bytes of workgroup memory, the device has ${smem}`);
    return t;
  }
  const fits = SIMT_VARIANTS.map(parse).filter((t) => (t.bm === 64 || m > 64) && (t.bn === 64 || n > 64));
  const wide = fits.filter((t) => (t.bm >= t.bn) === m >= n || t.bm === t.bn);
  const choice = wide.find((t) => Math.ceil(m / t.bm) * Math.ceil(n / t.bn) * batch >= TARGET_GROUPS) ?? fits[fits.length - 1];
  return fit(choice, null);
}

/** Subgroup-matrix tiles: the forced variant, or the large tile when there are enough tiles and it fits, else the small one. */
function subgroupTiles(
  frag: { m: number; n: number; k: number },
  sgSize: number,
  m: number,
  n: number,
  batch: number,
  limits: { smem: number; maxThreads: number },
  bytes: (t: SubgroupTiles) => number,
  variant?: string,
): SubgroupTiles {
  const { smem, maxThreads } = limits;
  const parse = (s: string): SubgroupTiles => {
    const match = /^(\d+)x(\d+):(\d+)x(\d+):(\d+)$/.exec(s);
    if (!match) throw new Error(`matmul: unknown subgroup-matrix variant "${s}" (ROWSxCOLS:SGMxSGN:BK)`);
    const [sgRows, sgCols, tm, tn, bk] = match.slice(1).map(Number);
    if (tm % frag.m || tn % frag.n || bk % frag.k || bk % 4) throw new Error(`matmul: variant "${s}" does not divide into ${frag.m}x${frag.n}x${frag.k} fragments`);
    return { frag, sgSize, sgRows, sgCols, fragsM: tm / frag.m, fragsN: tn / frag.n, bk, buffers: 2 };
  };
  const fit = (t: SubgroupTiles, forced: 1 | 2 | null): SubgroupTiles | null => {
    const buffers = forced ?? (bytes({ ...t, buffers: 2 }) <= smem ? 2 : 1);
    return bytes({ ...t, buffers }) <= smem ? { ...t, buffers } : null;
  };
  if (variant) {
    const { base, buffers } = parseBuffers(variant);
    const t = parse(base);
    const over = overThreadLimit(t.sgRows * t.sgCols, sgSize, maxThreads);
    if (over) throw new Error(`matmul: variant "${variant}": ${over}`);
    const fitted = fit(t, buffers);
    if (!fitted) throw new Error(`matmul: variant "${variant}" needs ${bytes({ ...t, buffers: buffers ?? 1 })} bytes of workgroup memory, the device has ${smem}`);
    return fitted;
  }
  // Default tiles shrink their subgroup grid where wide subgroups would exceed the invocation limit.
  const [large, small] = [SUBGROUP_VARIANTS[0], SUBGROUP_VARIANTS[SUBGROUP_VARIANTS.length - 1]].map((v) => withinThreadLimit(parse(v), maxThreads));
  const { bm, bn } = subgroupBlock(large);
  const enough = Math.ceil(m / bm) * Math.ceil(n / bn) * batch >= TARGET_GROUPS / 2;
  const chosen = (enough ? fit(large, null) : null) ?? fit(small, null);
  if (!chosen) throw new Error(`matmul: no subgroup-matrix tile fits in ${smem} bytes of workgroup memory`);
  return chosen;
}

/**
 * Batched matrix product C[b] = alpha op(A[b]) op(B[b]) (+ beta C[b]) (+ bias), with
 * f32 accumulation. A: [M, K] or [batch, M, K], B: [K, N] or [batch, K, N] (before the
 * optional transposes); a batch of 1 (or a rank-2 operand) broadcasts. Operands may be
 * any views: unit stride along either matrix axis reads coalesced (vec4 when aligned),
 * other layouts are gathered element by element (call contiguous() first for big ones).
 * f16 x f16 runs on tensor cores through subgroup matrices when the device has them,
 * everything else on the register-blocked SIMT kernel. No workspace is allocated.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const engine = a.engine;
  for (const [name, t] of [['A', a], ['B', b], ['bias', options.bias], ['out', options.out]] as const) {
    if (t && !FLOAT.includes(t.dtype)) throw new Error(`matmul: ${name} must be f32 or f16, got ${t.dtype}`);
  }
  const A = asBatched(a, options.transposeA ?? false, 'A');
  const B = asBatched(b, options.transposeB ?? false, 'B');
  const [ba, m, k] = A.shape;
  const [bb, k2, n] = B.shape;
  const describe = () => `A [${a.shape}]${options.transposeA ? '^T' : ''}, B [${b.shape}]${options.transposeB ? '^T' : ''}`;
  if (k !== k2) throw new Error(`matmul: inner dimensions differ (${k} vs ${k2}): ${describe()}`);
  if (ba !== bb && ba !== 1 && bb !== 1) throw new Error(`matmul: batch sizes ${ba} and ${bb} do not broadcast: ${describe()}`);
  const batch = Math.max(ba, bb);
  if (batch > 65535) throw new Error(`matmul: batch ${batch} exceeds 65535`);
  const outShape = a.rank === 3 || b.rank === 3 ? [batch, m, n] : [m, n];
  const beta = options.beta ?? 0;
  if (beta !== 0 && !options.out) throw new Error('matmul: beta needs an existing out tensor');
  if (options.out) {
    if (options.out.shape.join() !== outShape.join()) throw new Error(`matmul: out has shape [${options.out.shape}], expected [${outShape}] for ${describe()}`);
    if (options.outDtype && options.outDtype !== options.out.dtype) throw new Error(`matmul: outDtype ${options.outDtype} differs from out's ${options.out.dtype}`);
  }
  const bias = options.bias;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) throw new Error(`matmul: bias must be [${n}], got [${bias.shape}] for ${describe()}`);

  const out = options.out ?? Tensor.empty(engine, outShape, options.outDtype ?? a.dtype, options.category ?? 'activations');
  try {
    if (m > 0 && n > 0) record(a, b, out, A, B, batch, options);
    return out;
  } catch (error) {
    if (!options.out) out.dispose();
    throw error;
  }
}

/** Chooses the kernel for matmul's validated operands and records the dispatch. */
function record(a: Tensor, b: Tensor, out: Tensor, A: ReturnType<typeof asBatched>, B: ReturnType<typeof asBatched>, batch: number, options: MatmulOptions): void {
  const engine = a.engine;
  const [, m, k] = A.shape;
  const n = B.shape[2];
  const { bias, alpha = 1, beta = 0 } = options;
  const C = asBatched(out, false, 'out');

  const path = options.path ?? matmulPath(engine, a.dtype, b.dtype);
  const frag = subgroupFragment(engine);
  if (path === 'subgroup-matrix' && !(frag && a.dtype === 'f16' && b.dtype === 'f16')) {
    throw new Error(`matmul: the subgroup-matrix path needs f16 operands and a device with f16 subgroup matrices (${a.dtype} x ${b.dtype})`);
  }

  let aPlan = plan(A.view, m, k, 'm', 'k');
  let bPlan = plan(B.view, k, n, 'k', 'n');
  const sameAB = a.storage === b.storage;
  if (sameAB && aPlan.vec !== bPlan.vec) {
    aPlan = { ...aPlan, vec: false }; // one binding serves both: one element type
    bPlan = { ...bPlan, vec: false };
  }
  const [cb, cm, cn] = C.view.strides;
  const cAligned = [C.view.off, cb, cm].every((x) => x % 4 === 0);
  const { smem, maxThreads, sgSize } = tileLimits(engine);
  const bs = bias ? (bias.shape[0] === 1 ? 0 : bias.strides[0]) : 0;

  let key: string;
  let build: () => string;
  let bm: number;
  let bn: number;
  if (path === 'subgroup-matrix') {
    const rest: Omit<SubgroupKernel, 'tiles'> = {
      a: aPlan, b: bPlan, cType: out.dtype, biasType: bias?.dtype ?? null, beta: beta !== 0, sameAB,
      direct: out.dtype === 'f32' && cn === 1 && cAligned && !bias && beta === 0 && alpha === 1,
    };
    const bytes = (tiles: SubgroupTiles) => subgroupWorkgroupBytes(tiles, { a: aPlan.axis, b: bPlan.axis });
    const kernel: SubgroupKernel = { ...rest, tiles: subgroupTiles(frag!, sgSize, m, n, batch, { smem, maxThreads }, bytes, options.variant) };
    ({ bm, bn } = subgroupBlock(kernel.tiles));
    key = subgroupKey(kernel);
    build = () => subgroupWgsl(kernel);
  } else {
    const tiles = simtTiles(m, n, batch, smem, options.variant);
    const kernel: SimtKernel = {
      tiles, a: aPlan, b: bPlan, cVec: cn === 1 && cAligned && n % 4 === 0, aType: a.dtype, bType: b.dtype, cType: out.dtype,
      biasType: bias?.dtype ?? null, beta: beta !== 0, sameAB,
    };
    ({ bm, bn } = tiles);
    key = simtKey(kernel);
    build = () => simtWgsl(kernel);
  }
  const tilesM = Math.ceil(m / bm);
  const tilesN = Math.ceil(n / bn);
  const params = new Params()
    .u32(m, n, k, tilesM, tilesN)
    .u32(A.view.off, ...A.view.strides, B.view.off, B.view.strides[0], B.view.strides[1], B.view.strides[2])
    .u32(C.view.off, cb, cm, cn, bias?.offset ?? 0, bs)
    .f32(alpha, beta);
  const tensors = [a, ...(sameAB ? [] : [b]), out, ...(bias ? [bias] : [])];
  const limit = engine.gpu?.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  launch(engine, { key, name: `matmul (${path})`, build }, tensors, params, tileGrid(tilesM * tilesN, batch, limit));
}
