import type { Engine } from '../gpu/engine.js';
import { subgroupBlock, subgroupWorkgroupBytes, type StageAxes, type SubgroupTiles } from './matmul-subgroup.wgsl.js';

/**
 * Tile choices shared by the tensor-core convolution kernels (forward and weight gradient):
 * how a requested tile is fitted into the device's workgroup memory, and the variant
 * string that forces one (`sg:ROWSxCOLS:FMxFN:BK[/1|/2][@1|@2]`: a ROWS x COLS grid of subgroups,
 * each FM x FN fragments, depth BK, one or two staging buffers, loads one or two steps ahead;
 * `sg[/1|/2][@1|@2]`: the default tiles, with the buffers or the loads changed).
 */
export interface SubgroupTileRules {
  /** The operation, for error messages. */
  op: string;
  /** Which operand axes are staged contiguous (sizes the workgroup memory). */
  axes: StageAxes;
  /** Whether the kernel's gathers can move these tiles (thread and chunk divisibility). */
  splits: (t: SubgroupTiles) => boolean;
  smem: number;
  /** The device's invocations per workgroup (maxComputeInvocationsPerWorkgroup). */
  maxThreads: number;
}

/** Limits of the engine's device that GEMM tile choices (matmul, conv) depend on (defaults for meta engines). */
export function tileLimits(engine: Engine): { smem: number; maxThreads: number; sgSize: number } {
  const l = engine.gpu?.limits;
  return { smem: l?.maxComputeWorkgroupStorageSize ?? 16384, maxThreads: l?.maxComputeInvocationsPerWorkgroup ?? 256, sgSize: l?.subgroupMaxSize ?? 32 };
}

/** Why `subgroups` subgroups of `sgSize` invocations do not fit one workgroup of the device, or null if they do. */
export function overThreadLimit(subgroups: number, sgSize: number, maxThreads: number): string | null {
  return subgroups * sgSize > maxThreads ? `${subgroups} subgroups of ${sgSize} invocations exceed the device's ${maxThreads} per workgroup` : null;
}

/**
 * Default tiles made to fit the device's invocation limit (wide subgroups, e.g. 64 lanes):
 * halves the larger of the subgroup rows and columns until the workgroup fits.
 */
export function withinThreadLimit(t: SubgroupTiles, maxThreads: number): SubgroupTiles {
  let { sgRows, sgCols } = t;
  while (sgRows * sgCols * t.sgSize > maxThreads && sgRows * sgCols > 1) {
    if (sgRows >= sgCols) sgRows = Math.ceil(sgRows / 2);
    else sgCols = Math.ceil(sgCols / 2);
  }
  return { ...t, sgRows, sgCols };
}

/**
 * Whether the tensor cores are worth it for a convolution GEMM of `outChannels` x
 * `inChannels` per tap over `taps` taps: not where either side has 16 channels or fewer
 * (yolov8n's stem with 3, its 16-channel layers at 160x160) nor for a pointwise conv with
 * at most 48 channels on both sides. In the yolov8n f16 batch-64 training step on an H100
 * (bench/RESULTS.md, ninth call) the SIMT kernels ran those 1.1-10x faster than the
 * tensor-core defaults, and everything else 1.1-2.5x slower.
 */
export function tensorCoresPay(outChannels: number, inChannels: number, taps: number): boolean {
  return outChannels > 16 && inChannels > 16 && !(taps === 1 && Math.max(outChannels, inChannels) <= 48);
}

/**
 * Whether a convolution is narrow enough for the direct kernel (conv2d-direct.wgsl.ts, forward
 * and input gradient): at most 32 output channels and 16 on one side, with taps (a pointwise
 * conv is a plain GEMM). yolov8n's stem, its 16-channel layers and their input gradients, whose
 * GEMM tiles are mostly idle. (A direct weight gradient ran 1.3-3x slower than the GEMMs on those
 * shapes: bench/RESULTS.md, fourteenth call.)
 */
export function narrowConv(outChannels: number, inChannels: number, taps: number): boolean {
  return taps > 1 && outChannels <= 32 && (outChannels <= 16 || inChannels <= 16);
}

const bytes = (t: SubgroupTiles, rules: SubgroupTileRules) => subgroupWorkgroupBytes(t, rules.axes);

/**
 * Which staging a default tile tries first (`fitSubgroupTiles`): `twoBuffers` double-buffered
 * at the requested depth, then at depth 16, then one buffer at either depth; `depth` the
 * requested depth with two buffers, then one, before depth 16 (the loads of the next step are
 * in flight while one step multiplies either way, and a deeper step gives them twice the
 * multiply-adds to hide behind); `oneBuffer` one buffer at the requested depth, then at 16
 * (half the workgroup memory: more workgroups per SM).
 */
export type StagingPreference = 'twoBuffers' | 'depth' | 'oneBuffer';

/**
 * The tiles as requested in the first staging of `prefer` that fits (the kernel's chunk splits
 * and the workgroup memory); null when none does. A forced buffer count is kept as is, and the
 * depth too.
 */
export function fitSubgroupTiles(t: SubgroupTiles, rules: SubgroupTileRules, forced: 1 | 2 | null = null, prefer: StagingPreference = 'twoBuffers'): SubgroupTiles | null {
  const shallow = { ...t, bk: Math.min(t.bk, 16) };
  const [double, single] = [2 as const, 1 as const].map((buffers) => [{ ...t, buffers }, { ...shallow, buffers }]);
  const orders: Record<StagingPreference, SubgroupTiles[]> = { twoBuffers: [...double, ...single], depth: [double[0], single[0], double[1], single[1]], oneBuffer: single };
  const options = forced ? [{ ...t, buffers: forced }] : orders[prefer];
  return options.find((o) => o.bk % t.frag.k === 0 && rules.splits(o) && bytes(o, rules) <= rules.smem) ?? null;
}

/** A default tile choice and the staging it tries first (`fitSubgroupTiles`). */
export type TileCandidate = SubgroupTiles & { prefer?: StagingPreference };

/** The first of several default tile choices (each fitted to the device's invocation limit) that fits the device. */
export function firstFitting(candidates: readonly TileCandidate[], rules: SubgroupTileRules): SubgroupTiles {
  for (const { prefer, ...c } of candidates) {
    const fitted = fitSubgroupTiles(withinThreadLimit(c, rules.maxThreads), rules, null, prefer);
    if (fitted) return fitted;
  }
  throw new Error(`${rules.op}: no tensor-core tile fits this device's ${rules.smem} bytes of workgroup memory; run it on the SIMT kernels (convKernels 'simt')`);
}

/** How tensor-core variants are written (error messages). */
export const SUBGROUP_VARIANT_FORMAT = 'sg[/1|/2][@1|@2] or sg:ROWSxCOLS:FMxFN:BK[/1|/2][@1|@2]';

/** `@2`: loads two steps ahead (`stagedKLoop`); `@1` (or nothing) one. */
const withAhead = (t: SubgroupTiles, ahead: string | undefined): SubgroupTiles => {
  const { ahead: _, ...rest } = t;
  return ahead === '@2' ? { ...rest, ahead: 2 } : rest;
};

/**
 * The tensor-core tiles a variant asks for, given the shape's default tiles: `sg` the
 * defaults; `sg/1`, `sg/2` the defaults with one or two buffers at depth 32, else 16 (the
 * deepest that fits; the defaults' own where neither fits or splits: the in-step tuning tries
 * these on every shape, checked on the device but not per shape); `@1`, `@2` the defaults'
 * loads one or two steps ahead; `sg:...` explicit tiles (`parseSubgroupVariant`).
 */
export function subgroupVariantTiles(variant: string, defaults: () => SubgroupTiles, frag: SubgroupTiles['frag'], sgSize: number, rules: SubgroupTileRules): SubgroupTiles {
  const modified = /^sg(?:\/([12]))?(@[12])?$/.exec(variant);
  if (!modified) return parseSubgroupVariant(variant, frag, sgSize, rules);
  const [, buffers, ahead] = modified;
  let tiles = defaults();
  if (buffers) {
    const forced = Number(buffers) as 1 | 2;
    tiles = fitSubgroupTiles({ ...tiles, bk: 32 }, rules, forced) ?? fitSubgroupTiles({ ...tiles, bk: 16 }, rules, forced) ?? tiles;
  }
  return ahead ? withAhead(tiles, ahead) : tiles;
}

/**
 * Parses `sg:ROWSxCOLS:FMxFN:BK[/1|/2][@1|@2]` and checks the tiles against the kernel's
 * rules and the device.
 */
export function parseSubgroupVariant(variant: string, frag: SubgroupTiles['frag'], sgSize: number, rules: SubgroupTileRules): SubgroupTiles {
  const match = /^sg:(\d+)x(\d+):(\d+)x(\d+):(\d+)(?:\/([12]))?(@[12])?$/.exec(variant);
  const bad = (why: string) => new Error(`${rules.op}: variant "${variant}": ${why} (format ${SUBGROUP_VARIANT_FORMAT})`);
  if (!match) throw bad('unreadable');
  const [sgRows, sgCols, fragsM, fragsN, bk] = match.slice(1, 6).map(Number);
  if ([sgRows, sgCols, fragsM, fragsN].some((v) => v < 1) || sgRows * sgCols > 8) throw bad('1 to 8 subgroups of at least one fragment each');
  const over = overThreadLimit(sgRows * sgCols, sgSize, rules.maxThreads);
  if (over) throw bad(over);
  if (bk % frag.k || bk % 4) throw bad(`BK must be a multiple of the fragment depth ${frag.k}`);
  const requested = withAhead({ frag, sgSize, sgRows, sgCols, fragsM, fragsN, bk, buffers: match[6] ? (Number(match[6]) as 1 | 2) : 2 }, match[7]);
  // Unforced buffers: the depth and buffer count that fit; otherwise the checks below say why the request cannot run.
  const tiles = fitSubgroupTiles(requested, rules, match[6] ? requested.buffers : null) ?? requested;
  if (!rules.splits(tiles)) throw bad(`a ${subgroupBlock(tiles).bm}x${subgroupBlock(tiles).bn} tile of depth ${tiles.bk} does not split into whole rows of vec4 chunks over the threads`);
  if (bytes(tiles, rules) > rules.smem) throw bad(`needs ${bytes(tiles, rules)} bytes of workgroup memory, the device has ${rules.smem}`);
  return tiles;
}
