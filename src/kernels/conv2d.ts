import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import { Tensor } from '../gpu/tensor.js';
import { convShapeKey, tableVariant } from './conv-variants.js';
import {
  convGemmKey,
  convGemmWgsl,
  convWorkgroupBytes,
  DEPTHWISE_WG,
  depthwiseKey,
  depthwiseWgsl,
  type ConvBinding,
  type ConvEpilogue,
  type ConvGemmKernel,
  type ConvRole,
  type ConvTiles,
} from './conv2d.wgsl.js';
import { CONV_STAGE_AXES, convSubgroupKey, convSubgroupWgsl, type ConvSubgroupKernel } from './conv2d-subgroup.wgsl.js';
import { DIRECT_MAX_GROUPS, DIRECT_WG, directKey, directPixels, directWgsl, directWorkgroupBytes, type DirectConvKernel } from './conv2d-direct.wgsl.js';
import { grid1d, launch, Params } from './launch.js';
import { tileGrid } from './matmul-common.wgsl.js';
import { registerTileThreads } from './register-tile.wgsl.js';
import { subgroupFragment } from './matmul.js';
import { subgroupBlock, type SubgroupTiles } from './matmul-subgroup.wgsl.js';
import { firstFitting, narrowConv, subgroupVariantTiles, tensorCoresPay, tileLimits, withinThreadLimit, type SubgroupTileRules } from './subgroup-tiles.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  groups?: number;
  /** Per-output-channel bias [Cout]. */
  bias?: Tensor;
  /** Per-channel affine epilogue y = y * scale + shift (folded BatchNorm), [Cout] each. */
  scale?: Tensor;
  shift?: Tensor;
  /** SiLU after the affine. */
  silu?: boolean;
  /** Write into this view (e.g. a channel slice of a concat buffer) instead of a new tensor. */
  out?: Tensor;
  /** Dtype of a new output (default: the input's). */
  outDtype?: DType;
  category?: Category;
  /**
   * Force a GEMM kernel and tiles (benchmarks, tests). SIMT (the default): `simt` (default
   * tiles) or `BMxBN:TMxTN:BK`, optionally `/1` or `/2` staging buffers and `u` to unroll the
   * k-step loop at generation (e.g. `128x64:8x8:16/2u`). Tensor cores (f16 input, devices
   * with subgroup matrices): `sg` (default tiles), the defaults with one or two buffers or loads
   * one or two steps ahead (`sg[/1|/2][@1|@2]`), or `sg:ROWSxCOLS:FMxFN:BK[/1|/2][@1|@2]` — a
   * ROWS x COLS grid of subgroups, each FM x FN fragments (`subgroupVariantTiles`). `direct[/G]`:
   * the direct kernel of narrow layers (ungrouped; the default for `narrowConv` shapes), at most G workgroups.
   */
  variant?: string;
}

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  groups: number;
  ho: number;
  wo: number;
}

const pair = (v: number | [number, number] | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;

/** Shapes and output size of a conv of x [N,H,W,Cin] with w [Cout,KH,KW,Cin/groups]. */
export function convGeometry(x: readonly number[], w: readonly number[], options: Pick<Conv2dOptions, 'stride' | 'padding' | 'groups'> = {}): ConvGeometry {
  if (x.length !== 4) throw new Error(`conv2d: input must be NHWC [N,H,W,C], got [${x}]`);
  if (w.length !== 4) throw new Error(`conv2d: weight must be [Cout,KH,KW,Cin/groups], got [${w}]`);
  const [n, h, wd, cin] = x;
  const [cout, kh, kw, cg] = w;
  const groups = options.groups ?? 1;
  const [sh, sw] = pair(options.stride, 1);
  const [ph, pw] = pair(options.padding, 0);
  if (!(groups >= 1) || !(sh >= 1) || !(sw >= 1) || !(ph >= 0) || !(pw >= 0)) {
    throw new Error(`conv2d: invalid groups ${groups}, stride ${sh},${sw} or padding ${ph},${pw}`);
  }
  if (cin % groups !== 0 || cout % groups !== 0 || cg !== cin / groups) {
    throw new Error(`conv2d: ${cin} input and ${cout} output channels with ${groups} groups need a weight of [${cout},KH,KW,${cin / groups}], got [${w}] for input [${x}]`);
  }
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((wd + 2 * pw - kw) / sw) + 1;
  if (ho < 1 || wo < 1) throw new Error(`conv2d: a ${kh}x${kw} kernel does not fit a ${h}x${wd} input with padding ${ph},${pw}`);
  return { n, h, w: wd, cin, cout, kh, kw, sh, sw, ph, pw, groups, ho, wo };
}

/** Workgroups wanted before a taller M tile is preferred: about two per SM of a large GPU. */
const TARGET_GROUPS = 264;

const waste = (n: number, tile: number) => Math.ceil(n / tile) * tile - n;

/**
 * Tile configuration for an M x N x K implicit GEMM (`slices` groups), from the H100 sweep
 * (bench/RESULTS.md): the N tile is the output channels rounded up to 16 (one tile when
 * Cout <= 128: no column of threads idles on Cout = 16, 32, 80), else 128 or 64 wide. Below
 * 128 columns, 4 rows per thread and up to 256 threads (more threads share the A tile,
 * which dominates the loads), 64-row tiles when 128 would need more threads or for 64
 * columns with K <= 192; 128 x 128 tiles take 8 x 8 per thread. BK 8 for short reductions and for
 * 16-wide tiles. 64-row tiles also when the grid would leave a large GPU half idle.
 */
export function chooseConvTiles(m: number, n: number, k: number, slices: number, smem: number): ConvTiles {
  const bn = n <= 128 ? Math.ceil(n / 16) * 16 : waste(n, 128) <= waste(n, 64) ? 128 : 64;
  // 64 columns with a short reduction: 64 x 64 tiles of 4 x 4 per thread.
  const short64 = bn === 64 && k <= 192;
  const tn: 4 | 8 = bn >= 64 && bn % 8 === 0 && !short64 ? 8 : 4;
  const wide = bn >= 128;
  let tm: 4 | 8 = wide ? 8 : 4;
  let bm = short64 || (!wide && registerTileThreads({ bm: 128, bn, tm: 4, tn }) > 256) ? 64 : 128;
  if (bm === 128 && Math.ceil(m / bm) * Math.ceil(n / bn) * slices < TARGET_GROUPS) {
    bm = 64;
    tm = 4;
  }
  const bk: 8 | 16 = k <= 32 || bn <= 16 ? 8 : 16;
  return withBuffers({ bm, bn, bk, tm, tn, buffers: 2 }, smem, null);
}

/**
 * Tensor-core tiles, from the per-shape tuning inside the yolov8n f16 batch-64 training step
 * on an H100 (bench/device/tc-step.sh, bench/RESULTS.md, tenth call): eight subgroups (256
 * threads). For 32, 64 or 96 output channels (an even number of fragments up to 6, so the
 * B tile splits into whole vec4 chunks over the threads) they are stacked along the pixels,
 * each 2 fragment rows by every output channel (256 pixels x Cout); other layers take 4 x 2
 * subgroups of 4 x up to 4 fragments (256 x 128), with 2 fragment rows when the grid would
 * leave a large GPU half idle. Depth 32, double-buffered when it fits the workgroup memory,
 * else depth 16 (`fitSubgroupTiles`, `firstFitting`); the stacked tiles over `channels` per tap
 * that are a multiple of 32 (a step stays in one tap) take one buffer of depth 32 first (1.2x
 * faster on those shapes in the step; elsewhere 1.1-1.8x slower: bench/RESULTS.md, fourteenth call).
 */
function chooseConvSubgroupTiles(m: number, n: number, channels: number, slices: number, frag: SubgroupTiles['frag'], sgSize: number, rules: SubgroupTileRules): SubgroupTiles {
  const across = Math.ceil(n / frag.n);
  const base = { frag, sgSize, bk: 32, buffers: 2 as const };
  const stacked = across % 2 === 0 && across <= 6 ? [{ ...base, sgRows: 8, sgCols: 1, fragsM: 2, fragsN: across, ...(channels % 32 === 0 ? { prefer: 'depth' as const } : {}) }] : [];
  const wide = { ...base, sgRows: 4, sgCols: 2, fragsM: 4, fragsN: Math.min(4, Math.ceil(across / 2)) };
  const { bm, bn } = subgroupBlock(withinThreadLimit(wide, rules.maxThreads));
  if (Math.ceil(m / bm) * Math.ceil(n / bn) * slices < TARGET_GROUPS) wide.fragsM = 2;
  // Smaller workgroup memories (32 KiB) fall back to fewer fragments.
  return firstFitting([...stacked, wide, { ...wide, fragsM: 2 }, { ...wide, fragsM: 2, fragsN: 1 }], rules);
}

/** Every thread moves whole vec4 chunks of both tiles. */
function subgroupChunksDivide(t: SubgroupTiles): boolean {
  const { bm, bn, threads } = subgroupBlock(t);
  return ((bm * t.bk) / 4) % threads === 0 && ((bn * t.bk) / 4) % threads === 0;
}

const convSubgroupRules = (smem: number, maxThreads: number): SubgroupTileRules => ({ op: 'conv2d', axes: CONV_STAGE_AXES, splits: subgroupChunksDivide, smem, maxThreads });

function withBuffers(t: ConvTiles, smem: number, forced: 1 | 2 | null): ConvTiles {
  return { ...t, buffers: forced ?? (convWorkgroupBytes({ ...t, buffers: 2 }) <= smem ? 2 : 1) };
}

/** Parses `BMxBN:TMxTN:BK[/buffers][u]`. */
export function parseConvVariant(variant: string, smem: number): ConvTiles {
  const match = /^(\d+)x(\d+):(\d+)x(\d+):(\d+)(?:\/([12]))?(u?)$/.exec(variant);
  const bad = (why: string) => new Error(`conv2d: variant "${variant}": ${why} (format BMxBN:TMxTN:BK[/1|/2][u])`);
  if (!match) throw bad('unreadable');
  const [bm, bn, tm, tn, bk] = match.slice(1, 6).map(Number) as [number, number, 4 | 8, 4 | 8, 8 | 16 | 32];
  if (![4, 8].includes(tm) || ![4, 8].includes(tn)) throw bad('TM and TN must be 4 or 8');
  if (![8, 16, 32].includes(bk)) throw bad('BK must be 8, 16 or 32');
  if (bm % tm || bn % tn) throw bad('BM and BN must be multiples of TM and TN');
  const threads = registerTileThreads({ bm, bn, tm, tn });
  if (threads < 32 || threads > 256) throw bad(`${threads} threads per workgroup (32..256 allowed)`);
  const tiles = withBuffers({ bm, bn, bk, tm, tn, buffers: 2 }, smem, match[6] ? (Number(match[6]) as 1 | 2) : null);
  return match[7] ? { ...tiles, unroll: true } : tiles;
}

/** Offset and [N, H, W, C] strides of a view, with strides of size-1 axes zeroed (they are never stepped). */
function layout(t: Tensor): { off: number; strides: number[] } {
  return { off: t.offset, strides: t.strides.map((s, i) => (t.shape[i] === 1 ? 0 : s)) };
}

/** vec4 access along channels: unit channel stride and every pixel offset a multiple of 4. */
const vec4Channels = (l: { off: number; strides: number[] }, channels: number) =>
  channels % 4 === 0 && l.strides[3] === 1 && [l.off, l.strides[0], l.strides[1], l.strides[2]].every((v) => v % 4 === 0);

/**
 * Whether the input and output views, which live in one storage, touch disjoint elements.
 * Besides disjoint address ranges, this accepts the concat pattern: both views step pixels
 * by a common pixel stride s and cover different channel windows modulo s.
 */
function disjointViews(x: Tensor, y: Tensor): boolean {
  const span = (t: Tensor) => [t.offset, t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.strides[i], 0)];
  const [x0, x1] = span(x);
  const [y0, y1] = span(y);
  if (x1 < y0 || y1 < x0) return true;
  const lx = layout(x);
  const ly = layout(y);
  const s = Math.max(lx.strides[2], ly.strides[2], 1);
  const pixelAligned = (l: { strides: number[] }) => [0, 1, 2].every((i) => l.strides[i] % s === 0);
  if (!pixelAligned(lx) || !pixelAligned(ly)) return false;
  if ((x.shape[3] - 1) * lx.strides[3] >= s || (y.shape[3] - 1) * ly.strides[3] >= s) return false;
  const used = new Uint8Array(s);
  for (let c = 0; c < x.shape[3]; c++) used[(x.offset + c * lx.strides[3]) % s] = 1;
  for (let c = 0; c < y.shape[3]; c++) if (used[(y.offset + c * ly.strides[3]) % s]) return false;
  return true;
}

type Layout = ReturnType<typeof layout>;

/** The parameter block of every conv kernel (CONV_PARAMS_WGSL). */
function convParams(g: ConvGeometry, lx: Layout, ly: Layout, weight: Tensor, options: Conv2dOptions, m: number, n: number, k: number, tilesM: number, tilesN: number): Params {
  return new Params()
    .u32(m, n, k, tilesM, tilesN)
    .u32(g.h, g.w, g.cin / g.groups, g.kh, g.kw, g.ho, g.wo)
    .i32(g.sh, g.sw, g.ph, g.pw)
    .u32(lx.off, ...lx.strides, weight.offset, ly.off, ...ly.strides)
    .u32(options.bias?.offset ?? 0, options.scale?.offset ?? 0, options.shift?.offset ?? 0)
    .f32(1 / g.wo, 1 / (g.ho * g.wo));
}

interface Operand {
  role: ConvRole;
  t: Tensor;
  vec: boolean;
}

/** One binding per distinct storage (WebGPU forbids binding one buffer twice as writable storage). */
function groupBindings(operands: Operand[]): { bindings: ConvBinding[]; tensors: Tensor[] } {
  const bindings: ConvBinding[] = [];
  const tensors: Tensor[] = [];
  for (const o of operands) {
    const i = tensors.findIndex((t) => t.storage === o.t.storage);
    if (i < 0) {
      bindings.push({ dtype: o.t.dtype, vec: o.vec, roles: [o.role] });
      tensors.push(o.t);
      continue;
    }
    if (bindings[i].dtype !== o.t.dtype) throw new Error(`conv2d: ${o.role} (${o.t.dtype}) shares a storage with ${bindings[i].roles[0]} (${bindings[i].dtype})`);
    bindings[i].vec &&= o.vec;
    bindings[i].roles.push(o.role);
  }
  return { bindings, tensors };
}

const FLOAT: readonly DType[] = ['f32', 'f16'];

/**
 * 2-D convolution of an NHWC view x [N,H,W,Cin] with a weight [Cout,KH,KW,Cin/groups],
 * f32 accumulation. Output [N,Ho,Wo,Cout] (Ho = floor((H + 2 ph - KH) / sh) + 1): a new
 * tensor of `category`, or written through `out` (any view, e.g. a channel slice of a
 * concat buffer; it may share a storage with x when the two touch different channels).
 * Runs as an implicit GEMM (pixels x output channels, reduction over kh, kw, ci gathered
 * from the view while tiles load; vec4 loads and stores where channel strides and alignment
 * allow) on a register-blocked SIMT kernel, or for f16 inputs on the tensor cores (`chooseGemm`);
 * narrow layers (`narrowConv`) and depthwise convolutions (groups == Cin == Cout) run direct
 * kernels. Bias, folded-BatchNorm affine and SiLU are fused into the
 * single store. No workspace is allocated.
 */
export function conv2d(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  const engine = x.engine;
  const g = convGeometry(x.shape, weight.shape, options);
  const describe = `input [${x.shape}] ${x.dtype}, weight [${weight.shape}] ${weight.dtype}`;
  for (const [name, t] of [['input', x], ['weight', weight], ['out', options.out]] as const) {
    if (t && !FLOAT.includes(t.dtype)) throw new Error(`conv2d: ${name} must be f32 or f16, got ${t.dtype} (${describe})`);
  }
  if (!weight.isContiguous()) throw new Error(`conv2d: the weight must be contiguous (${describe})`);
  for (const [name, t] of [['bias', options.bias], ['scale', options.scale], ['shift', options.shift]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== g.cout || (g.cout > 1 && t.strides[0] !== 1) || !FLOAT.includes(t.dtype))) {
      throw new Error(`conv2d: ${name} must be a contiguous float [${g.cout}], got [${t.shape}] ${t.dtype} (${describe})`);
    }
  }
  if (!!options.scale !== !!options.shift) throw new Error('conv2d: scale and shift go together');
  if (g.groups > 65535) throw new Error(`conv2d: ${g.groups} groups exceed 65535`);
  const outShape = [g.n, g.ho, g.wo, g.cout];
  if (options.out) {
    if (options.out.shape.join() !== outShape.join()) throw new Error(`conv2d: out has shape [${options.out.shape}], expected [${outShape}] for ${describe}`);
    if (options.outDtype && options.outDtype !== options.out.dtype) throw new Error(`conv2d: outDtype ${options.outDtype} differs from out's ${options.out.dtype}`);
    if (options.out.storage === x.storage && !disjointViews(x, options.out)) throw new Error(`conv2d: the output view overlaps the input (${describe})`);
  }
  const depthwise = g.groups > 1 && g.groups === g.cin && g.groups === g.cout;
  const out = options.out ?? Tensor.empty(engine, outShape, options.outDtype ?? x.dtype, options.category ?? 'activations');
  try {
    const variant = options.variant ?? tableVariant(engine, 'conv2d', x.dtype, g);
    engine.tagged(convShapeKey('conv2d', x.dtype, g), () => record(g, x, weight, out, { ...options, variant }, depthwise));
  } catch (e) {
    if (out !== options.out) out.dispose();
    throw e;
  }
  return out;
}

/**
 * A conv with an explicit geometry, for the input-gradient pass: padding may be negative
 * and the output size is given (each stride phase of a strided conv's input gradient is a
 * stride-1 conv whose window is offset and whose output is a strided view of dx).
 */
export function conv2dWithGeometry(x: Tensor, weight: Tensor, out: Tensor, g: ConvGeometry, variant?: string): void {
  record(g, x, weight, out, { variant }, g.groups > 1 && g.groups === g.cin && g.groups === g.cout);
}

type GemmChoice = { path: 'simt'; tiles: ConvTiles } | { path: 'subgroup-matrix'; tiles: SubgroupTiles } | { path: 'direct'; quads: number; maxGroups: number };

/**
 * The kernel of a (non-depthwise) conv: narrow layers (`narrowConv`, ungrouped, the weight
 * fitting the workgroup memory) run the direct kernel; an f16 input runs on the tensor cores
 * where the device has f16 subgroup matrices (an f32 weight is rounded to f16 as its tiles
 * load), the engine asks for them (`convKernels: 'tensor-cores'`, the default) and the
 * channels make them pay (`tensorCoresPay`); everything else on the SIMT kernel. A variant
 * (the option, else the engine's table for this shape) forces one: `direct[/G]` the direct
 * kernel, `sg` / `sg:...` the tensor cores, `simt` / `BMxBN:...` the SIMT kernel.
 */
function chooseGemm(engine: Engine, dtype: DType, m: number, n: number, k: number, taps: number, slices: number, variant: string | undefined): GemmChoice {
  const { smem, maxThreads, sgSize } = tileLimits(engine);
  const rules = convSubgroupRules(smem, maxThreads);
  const frag = dtype === 'f16' ? subgroupFragment(engine) : null;
  // The direct kernel (narrow layers): ungrouped, its whole weight in workgroup memory.
  const quads = Math.ceil(n / 4);
  const directBytes = directWorkgroupBytes(k, quads);
  const direct = variant === undefined ? null : /^direct(?:\/(\d+))?$/.exec(variant);
  if (direct) {
    if (slices !== 1) throw new Error(`conv2d: variant "${variant}" runs ungrouped convolutions only (${slices} groups)`);
    if (directBytes > smem) throw new Error(`conv2d: variant "${variant}" needs ${directBytes} bytes of workgroup memory for the weight, the device has ${smem}`);
    return { path: 'direct', quads, maxGroups: direct[1] ? Math.max(1, Number(direct[1])) : DIRECT_MAX_GROUPS };
  }
  if (variant?.startsWith('sg')) {
    if (!frag) throw new Error(`conv2d: variant "${variant}" needs an f16 input on a device with f16 subgroup matrices (input ${dtype})`);
    const tiles = subgroupVariantTiles(variant, () => chooseConvSubgroupTiles(m, n, k / taps, slices, frag, sgSize, rules), frag, sgSize, rules);
    return { path: 'subgroup-matrix', tiles };
  }
  if (variant && variant !== 'simt') return { path: 'simt', tiles: parseConvVariant(variant, smem) };
  if (!variant && slices === 1 && narrowConv(n, k / taps, taps) && directBytes <= smem) return { path: 'direct', quads, maxGroups: DIRECT_MAX_GROUPS };
  if (!variant && frag && engine.convKernels === 'tensor-cores' && tensorCoresPay(n, k / taps, taps)) {
    return { path: 'subgroup-matrix', tiles: chooseConvSubgroupTiles(m, n, k / taps, slices, frag, sgSize, rules) };
  }
  return { path: 'simt', tiles: chooseConvTiles(m, n, k, slices, smem) };
}

/** Throws the error conv2d (or its input gradient) would give for `variant` on this engine with `dtype` inputs. */
export function checkConvVariant(engine: Engine, dtype: DType, variant: string): void {
  chooseGemm(engine, dtype, 1, 1, 1, 1, 1, variant);
}

/** Records the dispatch of a validated conv. */
function record(g: ConvGeometry, x: Tensor, weight: Tensor, out: Tensor, options: Conv2dOptions, depthwise: boolean): void {
  const engine = x.engine;
  // The kernels decode pixels with f32 reciprocals (OUT_PIXEL_WGSL), exact for images and rows below 2^21.
  if (g.n >= 2 ** 21 || g.ho >= 2 ** 21) throw new Error(`conv2d: ${g.n} images of ${g.ho} output rows: both must stay below 2^21`);
  const lx = layout(x);
  const ly = layout(out);
  const cg = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  const m = g.n * g.ho * g.wo;
  const k = g.kh * g.kw * cg;
  const gemm = depthwise ? null : chooseGemm(engine, x.dtype, m, coutG, k, g.kh * g.kw, g.groups, options.variant);
  const xVec = depthwise ? vec4Channels(lx, g.cin) && vec4Channels(ly, g.cout) : vec4Channels(lx, cg);
  const yVec = depthwise ? xVec : vec4Channels(ly, coutG);
  const operands: Operand[] = [
    { role: 'x', t: x, vec: xVec },
    { role: 'w', t: weight, vec: !depthwise && k % 4 === 0 && weight.offset % 4 === 0 },
    { role: 'y', t: out, vec: yVec },
  ];
  if (options.bias) operands.push({ role: 'bias', t: options.bias, vec: false });
  if (options.scale) operands.push({ role: 'scale', t: options.scale, vec: false }, { role: 'shift', t: options.shift!, vec: false });
  const { bindings, tensors } = groupBindings(operands);
  const epilogue: ConvEpilogue = { bias: !!options.bias, affine: !!options.scale, silu: !!options.silu };

  if (gemm?.path === 'direct') {
    const params = convParams(g, lx, ly, weight, options, m, coutG, k, 0, 0);
    const kernel: DirectConvKernel = { kh: g.kh, kw: g.kw, cin: cg, quads: gemm.quads, pixels: directPixels(gemm.quads), lanes: xVec ? 4 : 1, bindings, epilogue };
    const groups = Math.min(Math.ceil(m / (DIRECT_WG * kernel.pixels)), gemm.maxGroups);
    launch(engine, { key: directKey(kernel), name: 'conv2d (direct)', build: () => directWgsl(kernel) }, tensors, params, [groups, 1, 1]);
    return;
  }
  const block = !gemm ? null : gemm.path === 'simt' ? gemm.tiles : subgroupBlock(gemm.tiles);
  const tilesM = block ? Math.ceil(m / block.bm) : 0;
  const tilesN = block ? Math.ceil(coutG / block.bn) : 0;
  const params = convParams(g, lx, ly, weight, options, m, depthwise ? g.cout : coutG, k, tilesM, tilesN);

  if (!gemm) {
    const kernel = { lanes: xVec ? 4 : 1, bindings, epilogue } as const;
    const key = depthwiseKey(kernel);
    launch(engine, { key, name: 'conv2d (depthwise)', build: () => depthwiseWgsl(kernel) }, tensors, params, grid1d(engine, (m * g.cout) / kernel.lanes, DEPTHWISE_WG));
    return;
  }
  const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0 && g.ho === g.h && g.wo === g.w;
  const a: ConvGemmKernel['a'] = pointwise ? 'pointwise' : cg % gemm.tiles.bk === 0 ? 'tap-aligned' : 'general';
  const limit = engine.gpu?.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const grid = tileGrid(tilesM * tilesN, g.groups, limit);
  if (gemm.path === 'simt') {
    const kernel: ConvGemmKernel = { tiles: gemm.tiles, bindings, epilogue, a };
    launch(engine, { key: convGemmKey(kernel), name: 'conv2d', build: () => convGemmWgsl(kernel) }, tensors, params, grid);
  } else {
    const kernel: ConvSubgroupKernel = { tiles: gemm.tiles, bindings, epilogue, a };
    launch(engine, { key: convSubgroupKey(kernel), name: 'conv2d (subgroup-matrix)', build: () => convSubgroupWgsl(kernel) }, tensors, params, grid);
  }
}
