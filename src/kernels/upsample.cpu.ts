import type { HostTensor } from './host-tensor.js';

/** Nearest-neighbour NHWC upsampling by integer factors fh, fw, in float64. */
export function upsampleNearestCpu(x: HostTensor, fh: number, fw = fh): HostTensor {
  const [n, h, w, c] = x.shape;
  const [ho, wo] = [h * fh, w * fw];
  const out = new Float64Array(n * ho * wo * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) out[((b * ho + i) * wo + j) * c + ch] = x.data[((b * h + Math.floor(i / fh)) * w + Math.floor(j / fw)) * c + ch];
  return { shape: [n, ho, wo, c], data: out };
}

/** Its gradient: each input pixel sums its fh x fw block of output gradients. */
export function upsampleNearestBackwardCpu(gradOut: HostTensor, fh: number, fw = fh): HostTensor {
  const [n, ho, wo, c] = gradOut.shape;
  const [h, w] = [ho / fh, wo / fw];
  const out = new Float64Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let ch = 0; ch < c; ch++) out[((b * h + Math.floor(i / fh)) * w + Math.floor(j / fw)) * c + ch] += gradOut.data[((b * ho + i) * wo + j) * c + ch];
  return { shape: [n, h, w, c], data: out };
}
