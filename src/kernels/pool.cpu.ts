import { poolOutputSize } from './pool.js';
import type { HostTensor } from './host-tensor.js';

/** NHWC max pooling in float64 (windows clipped to the input, as PyTorch). */
export function maxPool2dCpu(x: HostTensor, k: number, s: number, p: number): HostTensor {
  const [n, h, w, c] = x.shape;
  const ho = poolOutputSize(h, k, s, p);
  const wo = poolOutputSize(w, k, s, p);
  const out = new Float64Array(n * ho * wo * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          for (let dh = 0; dh < k; dh++)
            for (let dw = 0; dw < k; dw++) {
              const hi = i * s - p + dh;
              const wi = j * s - p + dw;
              if (hi >= 0 && hi < h && wi >= 0 && wi < w) best = Math.max(best, x.data[((b * h + hi) * w + wi) * c + ch]);
            }
          out[((b * ho + i) * wo + j) * c + ch] = best;
        }
  return { shape: [n, ho, wo, c], data: out };
}
