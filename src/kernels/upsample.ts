import type { Category } from '../gpu/arena.js';
import { isFloat } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

export interface UpsampleOptions {
  /** Write into this view (e.g. a channel slice of the neck's concat buffer); must not share x's storage. */
  out?: Tensor;
  category?: Category;
}

/** Integer scale factors [fh, fw] from one factor or a pair. */
function factors(op: string, factor: number | readonly [number, number]): [number, number] {
  const f: [number, number] = typeof factor === 'number' ? [factor, factor] : [factor[0], factor[1]];
  if (!f.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${op}: scale factors must be positive integers, got [${f}]`);
  return f;
}

/**
 * The one kernel of both directions, one invocation per low-resolution element
 * (channels fastest: coalesced). Operand 0 is the low-resolution tensor [N, H, W, C]
 * (x, or the gradient being produced), operand 1 the high-resolution one viewed over the
 * same shape at the first pixel of each fh x fw block; the block is walked with its H and
 * W strides. forward: the value is read once and written fh*fw times; backward: the
 * block is summed in f32 in a fixed order (deterministic).
 */
function runBlocks(mode: 'forward' | 'backward', low: Tensor, high: Tensor, [fh, fw]: [number, number]): void {
  const [n, h, w, c] = low.shape;
  const [sN, sH, sW, sC] = high.strides;
  const first = high.view([n, h, w, c], [sN, sH * fh, sW * fw, sC], high.offset);
  const [tLow, tHigh] = [low.dtype, high.dtype];
  const body =
    mode === 'forward'
      ? `let v = ${tHigh}(L[o.x]);
  for (var a = 0u; a < s.x; a++) {
    for (var b = 0u; b < s.y; b++) { H[o.y + a * s.z + b * s.w] = v; }
  }`
      : `var acc = 0.0;
  for (var a = 0u; a < s.x; a++) {
    for (var b = 0u; b < s.y; b++) { acc += f32(H[o.y + a * s.z + b * s.w]); }
  }
  L[o.x] = ${tLow}(acc);`;
  launch(
    low.engine,
    {
      key: `upsample-nearest:${mode}:${tLow},${tHigh}`,
      name: `upsample nearest ${mode}`,
      build: () => /* wgsl */ `${enables(tLow, tHigh)}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
@group(0) @binding(1) var<storage, read_write> L: array<${tLow}>;
@group(0) @binding(2) var<storage, read_write> H: array<${tHigh}>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let o = offsetsOf(i);
  let s = bitcast<vec4<u32>>(P.scalars); // fh, fw, high's H stride, W stride
  ${body}
}`,
    },
    [low, high],
    stridedParams(low.shape, [low, first], [u32Bits(fh), u32Bits(fw), u32Bits(sH), u32Bits(sW)]),
    grid1d(low.engine, low.size, WG),
  );
  first.dispose();
}

/**
 * Nearest-neighbour upsampling of an NHWC view by integer factors (PyTorch's
 * `nn.Upsample(scale_factor=f, mode='nearest')`), written straight into `out` when given
 * (any float dtype: cast on the way).
 */
export function upsampleNearest(x: Tensor, factor: number | readonly [number, number], options: UpsampleOptions = {}): Tensor {
  const op = 'upsampleNearest';
  const f = factors(op, factor);
  if (x.rank !== 4) throw new Error(`${op}: input must be NHWC (rank 4), got [${x.shape}]`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: input must be f32 or f16, got ${x.dtype}`);
  const [n, h, w, c] = x.shape;
  const shape = [n, h * f[0], w * f[1], c];
  if (options.out) {
    if (options.out.shape.join() !== shape.join()) throw new Error(`${op}: out has shape [${options.out.shape}], expected [${shape}] for input [${x.shape}] x[${f}]`);
    if (!isFloat(options.out.dtype)) throw new Error(`${op}: out must be f32 or f16, got ${options.out.dtype}`);
    if (options.out.storage === x.storage) throw new Error(`${op}: out must not share the input storage`);
  }
  const out = options.out ?? Tensor.empty(x.engine, shape, x.dtype, options.category ?? 'activations');
  if (out.size > 0) runBlocks('forward', x, out, f);
  return out;
}

/**
 * Gradient of `upsampleNearest` w.r.t. its input: each input pixel sums the fh x fw block
 * of output gradients it was copied to. `gradOut` may be any view (e.g. the channel
 * slice of a concat buffer's gradient); the result has its dtype.
 */
export function upsampleNearestBackward(gradOut: Tensor, factor: number | readonly [number, number], options: { category?: Category } = {}): Tensor {
  const op = 'upsampleNearestBackward';
  const f = factors(op, factor);
  if (gradOut.rank !== 4) throw new Error(`${op}: gradOut must be NHWC (rank 4), got [${gradOut.shape}]`);
  if (!isFloat(gradOut.dtype)) throw new Error(`${op}: gradOut must be f32 or f16, got ${gradOut.dtype}`);
  const [n, ho, wo, c] = gradOut.shape;
  if (ho % f[0] !== 0 || wo % f[1] !== 0) throw new Error(`${op}: gradOut [${gradOut.shape}] is not a multiple of the factors [${f}]`);
  const gradIn = Tensor.empty(gradOut.engine, [n, ho / f[0], wo / f[1], c], gradOut.dtype, options.category ?? 'activations');
  if (gradIn.size > 0) runBlocks('backward', gradIn, gradOut, f);
  return gradIn;
}
