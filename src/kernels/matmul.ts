import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { chooseTiles, gemmGroups, gemmWgsl, tilesKey, type GemmTiles } from './gemm.js';
import { launch, Params } from './launch.js';
import { matmulSubgroupWgsl, subgroupMatmulTiles } from './matmul-subgroup.js';

export type MatmulPath = 'simt' | 'subgroup-matrix';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  /** Bias added along N. */
  bias?: Tensor;
  /** Write into this view instead of a new tensor (C = alpha A B + beta C). */
  out?: Tensor;
  alpha?: number;
  beta?: number;
  outDtype?: DType;
  category?: Category;
  /** Force a path (benchmarks); by default the fastest available is chosen. */
  path?: MatmulPath;
}

/** The path matmul takes for these input dtypes on this engine. */
export function matmulPath(engine: Engine, a: DType, b: DType): MatmulPath {
  const tensorCores = engine.features.subgroupMatrixConfigs.some(
    (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16,
  );
  return a === 'f16' && b === 'f16' && engine.features.subgroupMatrix && tensorCores ? 'subgroup-matrix' : 'simt';
}

/** Views of A as [batch, M, K] and B as [batch, K, N] (batch 1 broadcasts). */
function asBatched(t: Tensor, transpose: boolean, name: string): { shape: number[]; strides: number[] } {
  if (t.rank !== 2 && t.rank !== 3) throw new Error(`matmul: ${name} must have rank 2 or 3, got [${t.shape}]`);
  const shape = t.rank === 2 ? [1, ...t.shape] : [...t.shape];
  const strides = t.rank === 2 ? [0, ...t.strides] : [...t.strides];
  if (shape[0] === 1) strides[0] = 0;
  if (transpose) {
    [shape[1], shape[2]] = [shape[2], shape[1]];
    [strides[1], strides[2]] = [strides[2], strides[1]];
  }
  return { shape, strides };
}

/**
 * Batched matrix product C = alpha op(A) op(B) (+ beta C) (+ bias), any views, f32/f16
 * inputs with f32 accumulation. f16 x f16 uses tensor cores (subgroup matrices) when
 * the adapter has them and the operands are laid out for it, else the tiled SIMT GEMM.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const engine = a.engine;
  const A = asBatched(a, options.transposeA ?? false, 'A');
  const B = asBatched(b, options.transposeB ?? false, 'B');
  const [ba, m, k] = A.shape;
  const [bb, k2, n] = B.shape;
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: A is ${m}x${k}, B is ${k2}x${n}`);
  if (ba !== bb && ba !== 1 && bb !== 1) throw new Error(`matmul: batch sizes ${ba} and ${bb} do not broadcast`);
  const batch = Math.max(ba, bb);
  const outShape = a.rank === 3 || b.rank === 3 ? [batch, m, n] : [m, n];
  const out = options.out ?? Tensor.empty(engine, outShape, options.outDtype ?? a.dtype, options.category ?? 'activations');
  if (out.shape.join() !== outShape.join()) throw new Error(`matmul: out has shape [${out.shape}], expected [${outShape}]`);
  const O = asBatched(out, false, 'out');
  const bias = options.bias;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) throw new Error(`matmul: bias must be [${n}], got [${bias.shape}]`);
  const alpha = options.alpha ?? 1;
  const beta = options.beta ?? 0;
  if (beta !== 0 && !options.out) throw new Error('matmul: beta needs an existing out tensor');

  const path = options.path ?? matmulPath(engine, a.dtype, b.dtype);
  const tc = path === 'subgroup-matrix' && subgroupMatmulTiles(m, n, k, A.strides, B.strides, a, b);
  if (path === 'subgroup-matrix' && !tc && options.path) {
    throw new Error('matmul: the subgroup-matrix path needs f16 operands with unit inner strides and M, N, K multiples of 16/64');
  }
  const params = new Params()
    .u32(m, n, k)
    .u32(a.offset, ...A.strides, b.offset, ...B.strides, out.offset, ...O.strides)
    .f32(alpha, beta);
  const tensors = [a, b, out, ...(bias ? [bias] : [])];
  const flags = `${bias ? 'bias' : ''}${beta !== 0 ? 'beta' : ''}`;
  if (tc) {
    const key = `matmul:tc:${a.dtype}${b.dtype}${out.dtype}:${tc.key}:${flags}`;
    launch(engine, { key, name: 'matmul (subgroup matrix)', build: () => matmulSubgroupWgsl(tc, out.dtype, bias?.dtype ?? null, beta !== 0) }, tensors, params, tc.groups(m, n, batch));
    return out;
  }
  const tiles: GemmTiles = chooseTiles(m, n);
  const bWalk = B.strides[1] === 1 ? 'k' : 'n';
  const key = `matmul:simt:${a.dtype}${b.dtype}${out.dtype}:${tilesKey(tiles)}:${bWalk}:${flags}`;
  const build = () =>
    gemmWgsl(tiles, {
      dtypes: [a.dtype, b.dtype, out.dtype],
      params: 'aOff: u32, sAb: u32, sAm: u32, sAk: u32, bOff: u32, sBb: u32, sBk: u32, sBn: u32, oOff: u32, sOb: u32, sOm: u32, sOn: u32, alpha: f32, beta: f32',
      bindings: `
@group(0) @binding(1) var<storage, read_write> A: array<${a.dtype}>;
@group(0) @binding(2) var<storage, read_write> B: array<${b.dtype}>;
@group(0) @binding(3) var<storage, read_write> C: array<${out.dtype}>;
${bias ? `@group(0) @binding(4) var<storage, read_write> bias: array<${bias.dtype}>;` : ''}`,
      setup: 'let aBase = P.aOff + slice * P.sAb + aRow * P.sAm; let bBase = P.bOff + slice * P.sBb;',
      loadA: (kk) => `f32(A[aBase + ${kk} * P.sAk])`,
      loadB: (kk, nn) => `f32(B[bBase + ${kk} * P.sBk + ${nn} * P.sBn])`,
      store: (mm, nn, v) => {
        const at = `P.oOff + slice * P.sOb + ${mm} * P.sOm + ${nn} * P.sOn`;
        let expr = `P.alpha * ${v}`;
        if (beta !== 0) expr += ` + P.beta * f32(C[${at}])`;
        if (bias) expr += ` + f32(bias[${nn}])`;
        return `C[${at}] = ${out.dtype}(${expr});`;
      },
      bWalk,
    });
  launch(engine, { key, name: 'matmul', build }, tensors, params, gemmGroups(tiles, m, n, batch));
  return out;
}
