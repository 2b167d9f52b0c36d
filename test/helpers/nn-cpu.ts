import type { HostTensor } from '../../src/kernels/host-tensor.js';

/** BatchNorm2d over NHWC in float64 with batch statistics (biased variance), optionally followed by SiLU. */
export function batchNormCpu(x: HostTensor, gamma: HostTensor, beta: HostTensor, eps: number, silu: boolean, stats?: { mean: number[]; variance: number[] }): HostTensor {
  const c = x.shape[x.shape.length - 1];
  const count = x.data.length / c;
  const mean = stats?.mean ?? new Array<number>(c).fill(0);
  const variance = stats?.variance ?? new Array<number>(c).fill(0);
  if (!stats) {
    x.data.forEach((v, i) => (mean[i % c] += v / count));
    x.data.forEach((v, i) => (variance[i % c] += (v - mean[i % c]) ** 2 / count));
  }
  const out = new Float64Array(x.data.length);
  x.data.forEach((v, i) => {
    const k = i % c;
    const u = ((v - mean[k]) / Math.sqrt(variance[k] + eps)) * gamma.data[k] + beta.data[k];
    out[i] = silu ? u / (1 + Math.exp(-u)) : u;
  });
  return { shape: [...x.shape], data: out };
}
