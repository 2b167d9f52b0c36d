import type { Category } from '../gpu/arena.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl, Params } from './launch.js';

const WG = 256;

export interface MaxPoolOptions {
  kernel: number;
  stride?: number;
  padding?: number;
  /** Write into this view (e.g. a channel slice of SPPF's concat buffer). */
  out?: Tensor;
  category?: Category;
}

export function poolOutputSize(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

/**
 * Max pooling over an NHWC view (PyTorch semantics: padding never wins, windows are
 * clipped to the input). The backward pass recomputes the winning position from the
 * input, so no index tensor is kept.
 */
export function maxPool2d(x: Tensor, o: MaxPoolOptions): Tensor {
  if (x.rank !== 4) throw new Error(`maxPool2d: input must be NHWC, got [${x.shape}]`);
  const k = o.kernel;
  const s = o.stride ?? k;
  const p = o.padding ?? 0;
  if (p > k / 2) throw new Error(`maxPool2d: padding ${p} exceeds half the kernel ${k}`);
  const [n, h, w, c] = x.shape;
  const ho = poolOutputSize(h, k, s, p);
  const wo = poolOutputSize(w, k, s, p);
  const shape = [n, ho, wo, c];
  const out = o.out ?? Tensor.empty(x.engine, shape, x.dtype, o.category ?? 'activations');
  if (out.shape.join() !== shape.join()) throw new Error(`maxPool2d: out has shape [${out.shape}], expected [${shape}]`);
  const key = `maxpool:${x.dtype}->${out.dtype}`;
  launch(
    x.engine,
    {
      key,
      name: 'maxpool2d',
      build: () => /* wgsl */ `${enables(x.dtype, out.dtype)}
struct Params { total: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, k: u32, s: u32, p: u32,
  xOff: u32, sxN: u32, sxH: u32, sxW: u32, sxC: u32, oOff: u32, soN: u32, soH: u32, soW: u32, soC: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<${x.dtype}>;
@group(0) @binding(2) var<storage, read_write> Y: array<${out.dtype}>;
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.total) { return; }
  let c = i % P.C;
  let wo = (i / P.C) % P.Wo;
  let ho = (i / (P.C * P.Wo)) % P.Ho;
  let n = i / (P.C * P.Wo * P.Ho);
  let h0 = i32(ho * P.s) - i32(P.p);
  let w0 = i32(wo * P.s) - i32(P.p);
  var best = bitcast<f32>(0xff800000u | (P.total & 0u));
  for (var dh = 0u; dh < P.k; dh++) {
    let hi = h0 + i32(dh);
    if (hi < 0 || hi >= i32(P.H)) { continue; }
    for (var dw = 0u; dw < P.k; dw++) {
      let wi = w0 + i32(dw);
      if (wi < 0 || wi >= i32(P.W)) { continue; }
      best = max(best, f32(X[P.xOff + n * P.sxN + u32(hi) * P.sxH + u32(wi) * P.sxW + c * P.sxC]));
    }
  }
  Y[P.oOff + n * P.soN + ho * P.soH + wo * P.soW + c * P.soC] = ${out.dtype}(best);
}`,
    },
    [x, out],
    new Params().u32(out.size, h, w, c, ho, wo, k, s, p, x.offset, ...x.strides, out.offset, ...out.strides),
    grid1d(x.engine, out.size, WG),
  );
  return out;
}
