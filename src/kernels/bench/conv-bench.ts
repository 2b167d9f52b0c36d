import { DTYPE_BYTES, type DType } from '../../gpu/dtype.js';
import type { Engine } from '../../gpu/engine.js';
import { Tensor } from '../../gpu/tensor.js';
import { f16BitsToF32, f32ToF16Bits } from '../../io/half.js';
import { conv2d, convGeometry } from '../conv2d.js';
import { benchData, medianMs } from './timing.js';

export interface ConvBenchCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
  groups: number;
  dtype: DType;
  reps: number;
  /** GEMM tile configuration to force (conv2d's `variant`); default: conv2d's own choice. */
  variant?: string;
}

export interface ConvBenchResult {
  ms: number;
  tflops: number;
  /** Bytes of input, weight and output moved once, per second. */
  gbps: number;
  maxRelErr: number;
}

/** Times one forward convolution (NHWC, output in the input dtype) and checks 1000 sampled outputs. */
export async function benchConv(engine: Engine, c: ConvBenchCase): Promise<ConvBenchResult> {
  return (await sweepConv(engine, c, [c.variant]))[0];
}

/**
 * Times one convolution shape under several tile variants (undefined = the default
 * choice), sharing the input data; each result is verified on 1000 sampled outputs
 * against a float64 sum (relative error |ours - ref| / sum |terms|).
 */
export async function sweepConv(engine: Engine, c: Omit<ConvBenchCase, 'variant'>, variants: (string | undefined)[]): Promise<ConvBenchResult[]> {
  const round = (x: Float32Array) => (c.dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(x)) : x);
  const cg = c.cin / c.groups;
  const hx = round(benchData(c.n * c.h * c.w * c.cin, 3));
  const hw = round(benchData(c.cout * c.k * c.k * cg, 4));
  const x = Tensor.fromHost(engine, hx, [c.n, c.h, c.w, c.cin], c.dtype, 'input');
  const w = Tensor.fromHost(engine, hw, [c.cout, c.k, c.k, cg], c.dtype, 'params');
  const opts = { stride: c.stride, padding: c.pad, groups: c.groups };
  const g = convGeometry(x.shape, w.shape, opts);
  const out = Tensor.empty(engine, [c.n, g.ho, g.wo, c.cout], c.dtype, 'activations');
  const macs = c.n * g.ho * g.wo * c.cout * c.k * c.k * cg;
  const bytes = (x.size + w.size + out.size) * DTYPE_BYTES[c.dtype];
  const results: ConvBenchResult[] = [];
  try {
    for (const variant of variants) {
      const ms = await medianMs(engine, () => conv2d(x, w, { ...opts, out, variant }), c.reps);
      const maxRelErr = verify(c, g, hx, hw, await out.read());
      results.push({ ms, tflops: (2 * macs) / ms / 1e9, gbps: bytes / ms / 1e6, maxRelErr });
    }
    return results;
  } finally {
    for (const t of [x, w, out]) t.dispose();
  }
}

function verify(c: Omit<ConvBenchCase, 'variant'>, g: { ho: number; wo: number }, hx: Float32Array, hw: Float32Array, got: ArrayLike<number>): number {
  const cg = c.cin / c.groups;
  const coutG = c.cout / c.groups;
  let maxRelErr = 0;
  for (let s = 0; s < 1000; s++) {
    const idx = (s * 2654435761) % got.length;
    const co = idx % c.cout;
    const pix = Math.floor(idx / c.cout);
    const ow = pix % g.wo;
    const oh = Math.floor(pix / g.wo) % g.ho;
    const n = Math.floor(pix / (g.wo * g.ho));
    const grp = Math.floor(co / coutG);
    let ref = 0;
    let mag = 0;
    for (let kh = 0; kh < c.k; kh++) {
      const hi = oh * c.stride - c.pad + kh;
      if (hi < 0 || hi >= c.h) continue;
      for (let kw = 0; kw < c.k; kw++) {
        const wi = ow * c.stride - c.pad + kw;
        if (wi < 0 || wi >= c.w) continue;
        for (let ci = 0; ci < cg; ci++) {
          const p = hx[((n * c.h + hi) * c.w + wi) * c.cin + grp * cg + ci] * hw[((co * c.k + kh) * c.k + kw) * cg + ci];
          ref += p;
          mag += Math.abs(p);
        }
      }
    }
    // NaN (an unwritten or broken output) must not hide behind Math.max.
    const err = Math.abs(got[idx] - ref) / Math.max(mag, 1e-30);
    maxRelErr = Number.isNaN(err) ? Infinity : Math.max(maxRelErr, err);
  }
  return maxRelErr;
}
