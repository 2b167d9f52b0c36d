import type { HostTensor } from './host-tensor.js';

export function upsampleNearestCpu(x: HostTensor, f: number): HostTensor {
  const [n, h, w, c] = x.shape;
  const out = new Float64Array(n * h * f * w * f * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h * f; i++)
      for (let j = 0; j < w * f; j++)
        for (let ch = 0; ch < c; ch++) out[((b * h * f + i) * w * f + j) * c + ch] = x.data[((b * h + Math.floor(i / f)) * w + Math.floor(j / f)) * c + ch];
  return { shape: [n, h * f, w * f, c], data: out };
}
