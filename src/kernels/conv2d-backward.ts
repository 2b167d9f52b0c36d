import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { convShapeKey, tableVariant } from './conv-variants.js';
import { conv2dWithGeometry, convGeometry, type Conv2dOptions, type ConvGeometry } from './conv2d.js';
import { PHASE_WEIGHT_WG, phaseWeightWgsl, weightGradKey, weightGradWgsl, weightGradWorkgroupBytes, type WeightGradTiles } from './conv2d-backward.wgsl.js';
import { WGRAD_STAGE_AXES, weightGradSubgroupKey, weightGradSubgroupWgsl, type WeightGradSubgroupKernel } from './conv2d-wgrad-subgroup.wgsl.js';
import { fill } from './copy.js';
import { grid1d, launch, Params } from './launch.js';
import { subgroupFragment } from './matmul.js';
import { subgroupBlock, type SubgroupTiles } from './matmul-subgroup.wgsl.js';
import { firstFitting, SUBGROUP_VARIANT_FORMAT, subgroupVariantTiles, tensorCoresPay, tileLimits, type SubgroupTileRules, type TileCandidate } from './subgroup-tiles.js';
import { registerTileThreads } from './register-tile.wgsl.js';
import { reduce } from './reduce.js';

type ConvShape = Pick<Conv2dOptions, 'stride' | 'padding' | 'groups'>;

export interface ConvGradOptions {
  dtype?: DType;
  category?: Category;
  /** The GEMM kernel of the per-phase convolutions (conv2d's `variant`). */
  variant?: string;
}

/** Taps of a kernel of `k` reaching input positions of phase r (stride s, padding p): first tap, count, and window shift. */
function phaseTaps(r: number, k: number, s: number, p: number): { first: number; count: number; shift: number } {
  const first = (r + p) % s;
  const count = first < k ? Math.ceil((k - first) / s) : 0;
  return { first, count, shift: (r + p - first) / s };
}

/**
 * dL/dx of y = conv2d(x, w): for each stride phase (rh, rw) of the input, the rows
 * h = rh (mod sh) receive only the taps kh = (rh + ph) (mod sh), so that phase of dx is a
 * stride-1 conv of dy with those taps flipped (a small weight gathered per phase), written
 * straight into the strided view dx[:, rh::sh, rw::sw, :] by the forward conv kernels.
 * Phases no tap reaches (kernel smaller than the stride) are zero.
 */
export function conv2dInputGrad(dy: Tensor, weight: Tensor, inputShape: readonly number[], options: ConvShape & ConvGradOptions = {}): Tensor {
  const g = convGeometry(inputShape, weight.shape, options);
  if (dy.shape.join() !== [g.n, g.ho, g.wo, g.cout].join()) throw new Error(`conv2dInputGrad: dy [${dy.shape}] does not match the output [${g.n},${g.ho},${g.wo},${g.cout}]`);
  if (!weight.isContiguous()) throw new Error('conv2dInputGrad: the weight must be contiguous');
  const engine = dy.engine;
  const dtype = options.dtype ?? dy.dtype;
  const dx = Tensor.empty(engine, inputShape, dtype, options.category ?? 'activations');
  const variant = options.variant ?? tableVariant(engine, 'conv2dInputGrad', dy.dtype, g);
  engine.tagged(convShapeKey('conv2dInputGrad', dy.dtype, g), () => recordInputGrad(dy, weight, dx, g, variant));
  return dx;
}

/** The dispatches of `conv2dInputGrad`: one stride-1 conv per stride phase of dx. */
function recordInputGrad(dy: Tensor, weight: Tensor, dx: Tensor, g: ConvGeometry, variant: string | undefined): void {
  const engine = dy.engine;
  const cg = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  for (let rh = 0; rh < Math.min(g.sh, g.h); rh++) {
    for (let rw = 0; rw < Math.min(g.sw, g.w); rw++) {
      const th = phaseTaps(rh, g.kh, g.sh, g.ph);
      const tw = phaseTaps(rw, g.kw, g.sw, g.pw);
      const phase = dx.slice(1, rh, g.h, g.sh).slice(2, rw, g.w, g.sw);
      if (th.count === 0 || tw.count === 0) {
        fill(phase, 0);
      } else {
        const v = Tensor.empty(engine, [g.cin, th.count, tw.count, coutG], weight.dtype, 'workspace');
        const params = new Params().u32(v.size, cg, coutG, g.kh, g.kw, th.count, tw.count, th.first, tw.first, g.sh, g.sw, weight.offset);
        launch(engine, { key: `conv2d-phase-weight:${weight.dtype}`, name: 'conv2d input grad (weight)', build: () => phaseWeightWgsl(weight.dtype, weight.dtype) }, [v, weight], params, grid1d(engine, v.size, PHASE_WEIGHT_WG));
        const pg: ConvGeometry = {
          n: g.n, h: g.ho, w: g.wo, cin: g.cout, cout: g.cin, kh: th.count, kw: tw.count,
          sh: 1, sw: 1, ph: th.count - 1 - th.shift, pw: tw.count - 1 - tw.shift,
          groups: g.groups, ho: phase.shape[1], wo: phase.shape[2],
        };
        conv2dWithGeometry(dy, v, phase, pg, variant);
        v.dispose();
      }
      phase.dispose();
    }
  }
}

/** Threads the weight gradient aims to launch (splitting the pixel reduction): enough to fill a large GPU. */
const WGRAD_TARGET_THREADS = 1 << 17;
/** Fewest pixels one split reduces, so tiny problems do not pay for a workspace. */
const WGRAD_MIN_SPLIT = 1024;
/** Most f32 partial sums the splits may hold at once (the workspace counts toward the step's peak). */
const WGRAD_MAX_PARTIALS = 1 << 23;

const tileFor = (n: number): 16 | 32 | 64 => (n <= 16 ? 16 : n <= 32 ? 32 : 64);

/**
 * SIMT tiles of the weight gradient for M = Cout/groups rows and N = KH*KW*Cg columns: the
 * narrowest of 16, 32, 64 covering each side, 4 x 4 outputs per thread (up to 256 threads),
 * 16 pixels per step, one staging buffer. On the H100 (bench/RESULTS.md, 2026-12-07) 8 x 8
 * per thread with fewer threads measured slower on yolov8n's shapes.
 */
function weightGradTiles(m: number, n: number, vec: boolean): WeightGradTiles {
  return { bm: tileFor(m), bn: tileFor(n), tm: 4, tn: 4, bk: 16, buffers: 1, vec };
}

function parseWeightGradSimtVariant(variant: string, vec: boolean): WeightGradTiles {
  const match = /^(\d+)x(\d+):(\d+)x(\d+):(\d+)(?:\/([12]))?$/.exec(variant);
  if (!match) throw new Error(`conv2dWeightGrad: variant "${variant}" is neither simt, BMxBN:TMxTN:BK[/1|/2] nor ${SUBGROUP_VARIANT_FORMAT}`);
  const [bm, bn, tm, tn, bk] = match.slice(1, 6).map(Number);
  const tiles = { bm, bn, tm, tn, bk, buffers: match[6] === '1' ? 1 : 2, vec } as WeightGradTiles;
  const ok = [16, 32, 64, 128].includes(bm) && [16, 32, 64, 128].includes(bn) && [4, 8].includes(tm) && [4, 8].includes(tn) && [8, 16, 32].includes(bk);
  if (!ok) throw new Error(`conv2dWeightGrad: variant "${variant}" has an unsupported tile`);
  if (!wholeChunkRows(bm, bn, bk, registerTileThreads(tiles))) {
    throw new Error(`conv2dWeightGrad: variant "${variant}" does not split into whole rows of vec4 chunks over the threads`);
  }
  return tiles;
}

export interface WeightGradOptions extends ConvShape {
  category?: Category;
  /**
   * Force the kernel (tests, benchmarks): `simt` (the default) or SIMT tiles `BMxBN:TMxTN:BK[/1|/2]`,
   * or tensor cores (f16 dy and x on a device with subgroup matrices): `sg` (default tiles), the
   * defaults changed (`sg[/1|/2][@1|@2]`) or explicit tiles (`sg:ROWSxCOLS:FMxFN:BK[/1|/2][@1|@2]`,
   * `subgroupVariantTiles`).
   */
  variant?: string;
}

/**
 * Tensor-core tiles of the weight gradient: eight subgroups (2 rows x 4 columns, 256
 * threads; one row when Cout/groups fits one fragment), each 1, 2 or 4 fragment rows as
 * Cout/groups needs (up to 128 rows per tile) and 2 fragment columns (the per-layer sweep and
 * the per-shape tuning inside the yolov8n f16 batch-64 training step on an H100: bench/RESULTS.md,
 * eighth and tenth calls). Depth 32 with one staging buffer (`oneBuffer`, else depth 16): in that
 * step the weight gradients took 11.8 ms against 16.0 double-buffered (nineteenth call).
 */
function weightGradSubgroupTiles(m: number, frag: SubgroupTiles['frag'], sgSize: number): TileCandidate {
  const across = Math.ceil(m / frag.m);
  const sgRows = across === 1 ? 1 : 2;
  const fragsM = across <= 2 ? 1 : across <= 4 ? 2 : 4;
  return { frag, sgSize, sgRows, sgCols: 4, fragsM, fragsN: 2, bk: 32, buffers: 1, prefer: 'oneBuffer' };
}

/** Both tiles split into whole rows of vec4 chunks over the threads (the gathers' `chunkRowStep`). */
function wholeChunkRows(bm: number, bn: number, bk: number, threads: number): boolean {
  return [bm, bn].every((side) => ((side * bk) / 4) % threads === 0 && threads % (side / 4) === 0);
}

const weightGradSubgroupRules = (smem: number, maxThreads: number): SubgroupTileRules => ({
  op: 'conv2dWeightGrad',
  axes: WGRAD_STAGE_AXES,
  splits: (t) => {
    const { bm, bn, threads } = subgroupBlock(t);
    return wholeChunkRows(bm, bn, t.bk, threads);
  },
  smem,
  maxThreads,
});

type WeightGradChoice = { path: 'simt'; tiles: WeightGradTiles; threads: number } | { path: 'subgroup-matrix'; tiles: SubgroupTiles; threads: number };

/**
 * The weight gradient's kernel: f16 dy and x run on the tensor cores with their default
 * tiles where the device has f16 subgroup matrices, the engine asks for them
 * (`convKernels: 'tensor-cores'`, the default) and the channels make them pay
 * (`tensorCoresPay`), everything else on the SIMT kernel with its default tiles. A variant
 * (the option, else the engine's table for this shape) forces one: `sg` / `sg:...` the
 * tensor cores, `simt` / `BMxBN:TMxTN:BK[/1|/2]` the SIMT kernel.
 */
function chooseWeightGrad(engine: Engine, dtypes: readonly [DType, DType], m: number, n: number, taps: number, vec: boolean, variant: string | undefined): WeightGradChoice {
  const { smem, maxThreads, sgSize } = tileLimits(engine);
  const frag = dtypes.every((d) => d === 'f16') ? subgroupFragment(engine) : null;
  const rules = weightGradSubgroupRules(smem, maxThreads);
  const subgroup = (tiles: SubgroupTiles): WeightGradChoice => ({ path: 'subgroup-matrix', tiles, threads: subgroupBlock(tiles).threads });
  const defaultTiles = () => {
    const tiles = weightGradSubgroupTiles(m, frag!, sgSize);
    return firstFitting([tiles, { ...tiles, fragsM: Math.min(tiles.fragsM, 2) }, { ...tiles, fragsM: 1, fragsN: 1 }], rules);
  };
  if (variant?.startsWith('sg')) {
    if (!frag) throw new Error(`conv2dWeightGrad: variant "${variant}" needs f16 dy and x on a device with f16 subgroup matrices (${dtypes.join(', ')})`);
    return subgroup(subgroupVariantTiles(variant, defaultTiles, frag, sgSize, rules));
  }
  if (!variant && frag && engine.convKernels === 'tensor-cores' && tensorCoresPay(m, n / taps, taps)) return subgroup(defaultTiles());
  const tiles = variant && variant !== 'simt' ? parseWeightGradSimtVariant(variant, vec) : weightGradTiles(m, n, vec);
  if (weightGradWorkgroupBytes(tiles) > smem) throw new Error(`conv2dWeightGrad: variant "${variant}" needs more than the device's ${smem} bytes of workgroup memory`);
  return { path: 'simt', tiles, threads: registerTileThreads(tiles) };
}

/** Throws the error conv2dWeightGrad would give for `variant` on this engine with `dtype` dy and x. */
export function checkWeightGradVariant(engine: Engine, dtype: DType, variant: string): void {
  chooseWeightGrad(engine, [dtype, dtype], 1, 1, 1, false, variant);
}

/**
 * dL/dw of y = conv2d(x, w), f32, shaped like w [Cout, KH, KW, Cin/groups]: per group a GEMM
 * of dy^T (Cout/groups x pixels) with the im2col of x (pixels x KH*KW*Cg), gathered from
 * the views while tiles load (on the tensor cores for f16, `chooseWeightGrad`).
 * The pixel reduction is split across workgroups; the splits' partial sums are added by
 * the deterministic reduction (no atomics).
 */
export function conv2dWeightGrad(dy: Tensor, x: Tensor, weightShape: readonly number[], options: WeightGradOptions = {}): Tensor {
  const g = convGeometry(x.shape, weightShape, options);
  if (dy.shape.join() !== [g.n, g.ho, g.wo, g.cout].join()) throw new Error(`conv2dWeightGrad: dy [${dy.shape}] does not match the output [${g.n},${g.ho},${g.wo},${g.cout}]`);
  if (dy.storage === x.storage) throw new Error('conv2dWeightGrad: dy and x must not share a storage');
  return dy.engine.tagged(convShapeKey('conv2dWeightGrad', dy.dtype, g), () => recordWeightGrad(dy, x, weightShape, g, options));
}

/** The dispatches of `conv2dWeightGrad`: the split GEMM, then the sum of its partials. */
function recordWeightGrad(dy: Tensor, x: Tensor, weightShape: readonly number[], g: ConvGeometry, options: WeightGradOptions): Tensor {
  const engine = dy.engine;
  const m = g.cout / g.groups;
  const n = g.kh * g.kw * (g.cin / g.groups);
  const pixels = g.n * g.ho * g.wo;
  const cg = g.cin / g.groups;
  const aligned = (t: Tensor) => t.strides[3] === 1 && [t.offset, t.strides[0], t.strides[1], t.strides[2]].every((v) => v % 4 === 0);
  const vec = m % 4 === 0 && cg % 4 === 0 && aligned(dy) && aligned(x);
  const kernel = chooseWeightGrad(engine, [dy.dtype, x.dtype], m, n, g.kh * g.kw, vec, options.variant ?? tableVariant(engine, 'conv2dWeightGrad', dy.dtype, g));
  const { bm, bn } = kernel.path === 'simt' ? kernel.tiles : subgroupBlock(kernel.tiles);
  const { bk } = kernel.tiles;
  const threads = kernel.threads;
  const tilesM = Math.ceil(m / bm);
  const tilesN = Math.ceil(n / bn);
  const tiles = tilesM * tilesN * g.groups;
  const wanted = Math.ceil(WGRAD_TARGET_THREADS / threads / tiles);
  const splits = Math.max(1, Math.min(wanted, Math.floor(pixels / WGRAD_MIN_SPLIT), Math.floor(WGRAD_MAX_PARTIALS / (g.cout * n)), 65535));
  const splitLen = Math.ceil(pixels / splits / bk) * bk;
  const used = Math.ceil(pixels / splitLen);
  const category = options.category ?? 'grads';
  const partial = Tensor.empty(engine, used === 1 ? weightShape : [used, g.cout * n], 'f32', used === 1 ? category : 'workspace');
  const zeroed = (t: Tensor) => t.strides.map((s, i) => (t.shape[i] === 1 ? 0 : s));
  const params = new Params()
    .u32(m, n, pixels, splitLen, tilesN)
    .u32(g.ho, g.wo, g.h, g.w, cg, g.kw, g.cout)
    .i32(g.sh, g.sw, g.ph, g.pw)
    .u32(dy.offset, ...zeroed(dy), x.offset, ...zeroed(x));
  const grid = [tilesM * tilesN, g.groups, used];
  if (kernel.path === 'subgroup-matrix') {
    const sg: WeightGradSubgroupKernel = { tiles: kernel.tiles, vec };
    const key = `${weightGradSubgroupKey(sg)}:${dy.dtype}:${x.dtype}`;
    launch(engine, { key, name: 'conv2d weight grad (subgroup-matrix)', build: () => weightGradSubgroupWgsl(sg, dy.dtype, x.dtype) }, [partial, dy, x], params, grid);
  } else {
    const simt = kernel.tiles;
    const key = `${weightGradKey(simt)}:${dy.dtype}:${x.dtype}`;
    launch(engine, { key, name: 'conv2d weight grad', build: () => weightGradWgsl(simt, dy.dtype, x.dtype) }, [partial, dy, x], params, grid);
  }
  if (used === 1) return partial;
  const summed = reduce('sum', partial, [0], { category });
  partial.dispose();
  const out = summed.reshape(weightShape);
  summed.dispose();
  return out;
}

/** dL/d(bias) of a conv: dy summed over N, H, W. */
export function conv2dBiasGrad(dy: Tensor, category: Category = 'grads'): Tensor {
  return reduce('sum', dy, [0, 1, 2], { category, outDtype: 'f32' });
}
