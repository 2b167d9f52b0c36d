import { poolOutputSize } from './pool.js';
import type { HostTensor } from './host-tensor.js';

/**
 * NHWC max pooling in float64 (windows clipped to the input, as PyTorch), with the
 * argmax of each window as `hi * W + wi` (first maximum in row-major window order).
 */
export function maxPool2dCpu(x: HostTensor, k: number, s: number, p: number): { out: HostTensor; indices: HostTensor } {
  const [n, h, w, c] = x.shape;
  const ho = poolOutputSize(h, k, s, p);
  const wo = poolOutputSize(w, k, s, p);
  const out = new Float64Array(n * ho * wo * c);
  const indices = new Float64Array(out.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let arg = -1;
          for (let hi = Math.max(i * s - p, 0); hi < Math.min(i * s - p + k, h); hi++)
            for (let wi = Math.max(j * s - p, 0); wi < Math.min(j * s - p + k, w); wi++) {
              const v = x.data[((b * h + hi) * w + wi) * c + ch];
              if (arg < 0 || v > best) [best, arg] = [v, hi * w + wi];
            }
          out[((b * ho + i) * wo + j) * c + ch] = best;
          indices[((b * ho + i) * wo + j) * c + ch] = arg;
        }
  return { out: { shape: [n, ho, wo, c], data: out }, indices: { shape: [n, ho, wo, c], data: indices } };
}

/** Gradient w.r.t. the input [N, H, W, C]: each output gradient added at its argmax. */
export function maxPool2dBackwardCpu(gradOut: HostTensor, indices: HostTensor, inputShape: readonly number[]): HostTensor {
  const [n, h, w, c] = inputShape;
  const [, ho, wo] = gradOut.shape;
  const out = new Float64Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let q = 0; q < ho * wo; q++)
      for (let ch = 0; ch < c; ch++) {
        const at = (b * ho * wo + q) * c + ch;
        out[(b * h * w + indices.data[at]) * c + ch] += gradOut.data[at];
      }
  return { shape: [...inputShape], data: out };
}
