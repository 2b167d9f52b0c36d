import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { chooseTiles, gemmGroups, gemmWgsl, tilesKey } from './gemm.js';
import { enables, grid1d, launch, linearIndexWgsl, Params } from './launch.js';

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
  outDtype?: DType;
  category?: Category;
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
export function convGeometry(x: readonly number[], w: readonly number[], options: Conv2dOptions = {}): ConvGeometry {
  if (x.length !== 4) throw new Error(`conv2d: input must be NHWC [N,H,W,C], got [${x}]`);
  if (w.length !== 4) throw new Error(`conv2d: weight must be [Cout,KH,KW,Cin/groups], got [${w}]`);
  const [n, h, wd, cin] = x;
  const [cout, kh, kw, cg] = w;
  const groups = options.groups ?? 1;
  const [sh, sw] = pair(options.stride, 1);
  const [ph, pw] = pair(options.padding, 0);
  if (cin % groups !== 0 || cout % groups !== 0 || cg !== cin / groups) {
    throw new Error(`conv2d: ${cin} input and ${cout} output channels with ${groups} groups need a weight of [${cout},KH,KW,${cin / groups}], got [${w}]`);
  }
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((wd + 2 * pw - kw) / sw) + 1;
  if (ho < 1 || wo < 1) throw new Error(`conv2d: a ${kh}x${kw} kernel does not fit a ${h}x${wd} input with padding ${ph},${pw}`);
  return { n, h, w: wd, cin, cout, kh, kw, sh, sw, ph, pw, groups, ho, wo };
}

/** WGSL applying bias / affine / SiLU to `v` for output channel `co`. */
function epilogueWgsl(o: Conv2dOptions): string {
  return [
    o.bias ? 'v += f32(bias[co]);' : '',
    o.scale ? 'v = v * f32(scale[co]) + f32(shift[co]);' : '',
    o.silu ? 'v = v / (1.0 + exp(-v));' : '',
  ].join(' ');
}

function epilogueBindings(o: Conv2dOptions, first: number): string {
  const lines: string[] = [];
  let b = first;
  if (o.bias) lines.push(`@group(0) @binding(${b++}) var<storage, read_write> bias: array<${o.bias.dtype}>;`);
  if (o.scale) lines.push(`@group(0) @binding(${b++}) var<storage, read_write> scale: array<${o.scale.dtype}>;`);
  if (o.shift) lines.push(`@group(0) @binding(${b++}) var<storage, read_write> shift: array<${o.shift.dtype}>;`);
  return lines.join('\n');
}

const epilogueKey = (o: Conv2dOptions) =>
  `${o.bias ? `b${o.bias.dtype}` : ''}${o.scale ? `a${o.scale.dtype}` : ''}${o.silu ? 's' : ''}`;

/** Common conv parameters: geometry, then the input and output views' offsets and strides. */
function convParams(g: ConvGeometry, x: Tensor, out: Tensor, m: number, n: number, k: number): Params {
  return new Params()
    .u32(m, n, k)
    .u32(g.h, g.w, g.cin / g.groups, g.cout / g.groups, g.kw, g.ho, g.wo)
    .i32(g.sh, g.sw, g.ph, g.pw)
    .u32(x.offset, ...x.strides, out.offset, ...out.strides);
}

const CONV_PARAMS =
  'H: u32, W: u32, Cg: u32, CoutG: u32, KW: u32, Ho: u32, Wo: u32, sh: i32, sw: i32, ph: i32, pw: i32, ' +
  'xOff: u32, sxN: u32, sxH: u32, sxW: u32, sxC: u32, oOff: u32, soN: u32, soH: u32, soW: u32, soC: u32';

/** Offset of output pixel m (n, ho, wo) in the output view. */
const OUT_PIXEL_WGSL = /* wgsl */ `
fn outPixel(m: u32) -> u32 {
  let hw = P.Ho * P.Wo;
  let r = m % hw;
  return P.oOff + (m / hw) * P.soN + (r / P.Wo) * P.soH + (r % P.Wo) * P.soW;
}`;

/**
 * 2-D convolution of an NHWC view with a [Cout,KH,KW,Cin/groups] weight, as an implicit
 * GEMM (output pixels x output channels, reduction over kh,kw,cin gathered while
 * staging tiles); depthwise convolutions (groups == Cin == Cout) run a direct kernel.
 * Optional bias, folded-BatchNorm affine and SiLU are applied before the single store,
 * which may target a channel slice of a larger tensor (zero-copy concat).
 */
export function conv2d(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  const engine = x.engine;
  const g = convGeometry(x.shape, weight.shape, options);
  if (!weight.isContiguous()) throw new Error('conv2d: the weight must be contiguous');
  for (const [name, t] of [['bias', options.bias], ['scale', options.scale], ['shift', options.shift]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== g.cout || !t.isContiguous())) throw new Error(`conv2d: ${name} must be a contiguous [${g.cout}]`);
  }
  if (!!options.scale !== !!options.shift) throw new Error('conv2d: scale and shift go together');
  const outShape = [g.n, g.ho, g.wo, g.cout];
  const out = options.out ?? Tensor.empty(engine, outShape, options.outDtype ?? x.dtype, options.category ?? 'activations');
  if (out.shape.join() !== outShape.join()) throw new Error(`conv2d: out has shape [${out.shape}], expected [${outShape}]`);
  const extras = [options.bias, options.scale, options.shift].filter((t): t is Tensor => t !== undefined);
  const depthwise = g.groups === g.cin && g.groups === g.cout && g.groups > 1;
  if (depthwise) {
    depthwiseConv(g, x, weight, out, extras, options);
    return out;
  }
  const m = g.n * g.ho * g.wo;
  const n = g.cout / g.groups;
  const k = g.kh * g.kw * (g.cin / g.groups);
  const tiles = chooseTiles(m, n);
  const pointwise = g.kh === 1 && g.kw === 1;
  const dtypes = `${x.dtype}${weight.dtype}${out.dtype}`;
  const key = `conv2d:${dtypes}:${tilesKey(tiles)}:${pointwise ? 'pw' : 'gen'}:${epilogueKey(options)}`;
  const build = () =>
    gemmWgsl(tiles, {
      dtypes: [x.dtype, weight.dtype, out.dtype],
      params: CONV_PARAMS + ', wOff: u32',
      bindings: `
@group(0) @binding(1) var<storage, read_write> X: array<${x.dtype}>;
@group(0) @binding(2) var<storage, read_write> Wt: array<${weight.dtype}>;
@group(0) @binding(3) var<storage, read_write> Y: array<${out.dtype}>;
${epilogueBindings(options, 4)}`,
      helpers: `${OUT_PIXEL_WGSL}
fn loadX(base: u32, hi0: i32, wi0: i32, k: u32) -> f32 {
  ${
    pointwise
      ? 'let ci = k; let hi = hi0; let wi = wi0;'
      : 'let ci = k % P.Cg; let r = k / P.Cg; let hi = hi0 + i32(r / P.KW); let wi = wi0 + i32(r % P.KW);'
  }
  let inside = hi >= 0 && hi < i32(P.H) && wi >= 0 && wi < i32(P.W);
  let at = base + u32(max(hi, 0)) * P.sxH + u32(max(wi, 0)) * P.sxW + ci * P.sxC;
  return select(0.0, f32(X[at]), inside);
}`,
      setup: `
  let hw = P.Ho * P.Wo;
  let pr = aRow % hw;
  let hi0 = i32(pr / P.Wo) * P.sh - P.ph;
  let wi0 = i32(pr % P.Wo) * P.sw - P.pw;
  let xBase = P.xOff + (aRow / hw) * P.sxN + slice * P.Cg * P.sxC;
  let wBase = P.wOff + slice * P.CoutG * P.K;`,
      loadA: (kk) => `loadX(xBase, hi0, wi0, ${kk})`,
      loadB: (kk, nn) => `f32(Wt[wBase + ${nn} * P.K + ${kk}])`,
      rowBase: (mm) => `outPixel(${mm})`,
      store: (_mm, nn, v) => `let co = slice * P.CoutG + ${nn}; var v = ${v}; ${epilogueWgsl(options)} Y[row + co * P.soC] = ${out.dtype}(v);`,
      bWalk: 'k',
    });
  launch(engine, { key, name: 'conv2d', build }, [x, weight, out, ...extras], convParams(g, x, out, m, n, k).u32(weight.offset), gemmGroups(tiles, m, n, g.groups));
  return out;
}

const DW_WG = 256;

/** Direct depthwise convolution: one thread per output element, channels fastest (coalesced). */
function depthwiseConv(g: ConvGeometry, x: Tensor, weight: Tensor, out: Tensor, extras: Tensor[], options: Conv2dOptions): void {
  const engine = x.engine;
  const total = g.n * g.ho * g.wo * g.cout;
  const key = `dwconv:${x.dtype}${weight.dtype}${out.dtype}:${epilogueKey(options)}`;
  const build = () => /* wgsl */ `${enables(x.dtype, weight.dtype, out.dtype)}
struct Params { M: u32, N: u32, K: u32, ${CONV_PARAMS}, wOff: u32, KH: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<${x.dtype}>;
@group(0) @binding(2) var<storage, read_write> Wt: array<${weight.dtype}>;
@group(0) @binding(3) var<storage, read_write> Y: array<${out.dtype}>;
${epilogueBindings(options, 4)}
${OUT_PIXEL_WGSL}
${linearIndexWgsl(DW_WG)}
@compute @workgroup_size(${DW_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.M * P.N) { return; }
  let co = i % P.N;
  let m = i / P.N;
  let hw = P.Ho * P.Wo;
  let pr = m % hw;
  let hi0 = i32(pr / P.Wo) * P.sh - P.ph;
  let wi0 = i32(pr % P.Wo) * P.sw - P.pw;
  let xBase = P.xOff + (m / hw) * P.sxN + co * P.sxC;
  var v = 0.0;
  for (var kh = 0u; kh < P.KH; kh++) {
    let hi = hi0 + i32(kh);
    if (hi < 0 || hi >= i32(P.H)) { continue; }
    for (var kw = 0u; kw < P.KW; kw++) {
      let wi = wi0 + i32(kw);
      if (wi < 0 || wi >= i32(P.W)) { continue; }
      v = fma(f32(X[xBase + u32(hi) * P.sxH + u32(wi) * P.sxW]), f32(Wt[P.wOff + (co * P.KH + kh) * P.KW + kw]), v);
    }
  }
  ${epilogueWgsl(options)}
  Y[outPixel(m) + co * P.soC] = ${out.dtype}(v);
}`;
  const params = convParams(g, x, out, g.n * g.ho * g.wo, g.cout, g.kh * g.kw).u32(weight.offset, g.kh);
  launch(engine, { key, name: 'conv2d depthwise', build }, [x, weight, out, ...extras], params, grid1d(engine, total, DW_WG));
}
