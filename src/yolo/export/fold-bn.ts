import type { HostEntry } from '../../nn/module.js';

export interface BatchNormEntries {
  weight: HostEntry;
  bias: HostEntry;
  runningMean: HostEntry;
  runningVar: HostEntry;
  eps: number;
}

/**
 * Folds an eval-mode BatchNorm into the convolution before it (OIHW weight, no bias):
 * scale = gamma / sqrt(var + eps), weight' = weight * scale (per output channel), bias = beta - mean * scale.
 * Rounded to f32 step by step as the engine's folded-affine epilogue computes scale and shift.
 */
export function foldBatchNorm(conv: HostEntry, bn: BatchNormEntries): { weight: HostEntry; bias: Float32Array } {
  const cout = conv.shape[0];
  const per = conv.data.length / cout;
  const weight = new Float32Array(conv.data.length);
  const bias = new Float32Array(cout);
  const f = Math.fround;
  for (let o = 0; o < cout; o++) {
    const invstd = f(1 / Math.sqrt(f(bn.runningVar.data[o] + f(bn.eps))));
    const scale = f(bn.weight.data[o] * invstd);
    bias[o] = f(bn.bias.data[o] - f(bn.runningMean.data[o] * scale));
    for (let i = o * per; i < (o + 1) * per; i++) weight[i] = f(conv.data[i] * scale);
  }
  return { weight: { shape: conv.shape, data: weight }, bias };
}
