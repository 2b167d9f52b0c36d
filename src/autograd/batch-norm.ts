import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { batchNormGradApply, batchNormGradSums, channelSums } from '../kernels/batch-norm.js';
import { batchNormAffine, batchNormGradCoefs, type ChannelStats, type RunningStats } from '../kernels/batch-norm-channels.js';
import { elementwise } from '../kernels/elementwise.js';
import { isRecomputing } from './checkpoint.js';
import { record, saveForBackward } from './tape.js';
import type { Var } from './variable.js';

/** A BatchNorm2d's state: affine parameters and running statistics (PyTorch's momentum convention). */
export interface BatchNormParams {
  weight: Var;
  bias: Var;
  runningMean: Tensor;
  runningVar: Tensor;
  momentum: number;
  eps: number;
}

export interface BatchNormOptions {
  /** Batch statistics (and a running-statistics update) when true; running statistics when false. */
  training: boolean;
  /** Fuse SiLU after the normalization. */
  silu?: boolean;
  out?: Tensor;
}

/**
 * Per-channel scale = gamma / sqrt(var + eps) and shift = beta - mean * scale: views of
 * rows 0 and 1 of `affine`, a [4, C] tensor whose rows 2 and 3 are invstd = 1 / sqrt(var + eps)
 * and the mean.
 */
export function foldedAffine(p: BatchNormParams, stats: ChannelStats, running: RunningStats | null = null): { affine: Tensor; scale: Tensor; shift: Tensor } {
  const affine = batchNormAffine(stats, p.weight.data, p.bias.data, p.eps, running);
  return { affine, scale: affine.row(0), shift: affine.row(1) };
}

/**
 * BatchNorm2d over NHWC x (statistics over N, H, W), optionally followed by SiLU. The
 * backward keeps x (the conv output, usually saved anyway) and per-channel vectors only:
 * the normalized values and the SiLU input are recomputed from them. Running statistics
 * are not updated while a checkpointed segment is re-run.
 */
export function batchNorm2d(x: Var, p: BatchNormParams, o: BatchNormOptions): Var {
  const channels = x.shape[3];
  const count = x.data.size / channels;
  const stats: ChannelStats = o.training ? channelSums(x.data) : { mean: p.runningMean, variance: p.runningVar };
  const running = o.training && !isRecomputing() ? { mean: p.runningMean, variance: p.runningVar, momentum: p.momentum, count } : null;
  const { affine, scale, shift } = foldedAffine(p, stats, running);
  if ('sums' in stats) for (const t of [stats.sums.partial, stats.shift]) t.dispose();
  const y = elementwise(o.silu ? 'siluf(x0 * x1 + x2)' : 'x0 * x1 + x2', [x.data, scale, shift], o.out ? { out: o.out } : { outDtype: x.data.dtype });
  for (const t of [scale, shift]) t.dispose();
  const sx = saveForBackward(x.data);
  const training = o.training;
  const silu = !!o.silu;
  const dtype = x.data.dtype;
  return record('batchNorm2d', [x, p.weight, p.bias], y, [sx, affine], (g, needs) => backwardRule(g, needs, { sx, affine, silu, training, dtype }));
}

interface Saved {
  sx: Tensor;
  /** [4, C] rows scale, shift, invstd, mean. */
  affine: Tensor;
  silu: boolean;
  training: boolean;
  /** The input's dtype, which its gradient takes (f16 in f16 training: the convolutions' backward then runs on f16). */
  dtype: DType;
}

/**
 * With u = x * scale + shift and gu = dL/du (g itself, or g * silu'(u)):
 * dgamma = invstd * sum(gu (x - mean)), dbeta = sum(gu); in training
 * dx = scale * gu + k * x + d with per-channel k = -scale * invstd^2 * sum(gu (x - mean)) / count
 * and d = -scale * sum(gu) / count - k * mean; in eval dx = scale * gu. Two passes over the
 * activations: gu (from g and x, the SiLU input recomputed) with the per-channel sums, then
 * dx in place of gu (in the input's dtype); g is freed in between. Sums accumulate in f32.
 */
function backwardRule(g: Tensor, needs: readonly boolean[], s: Saved): (Tensor | null)[] {
  const gu = Tensor.empty(g.engine, s.sx.shape, s.dtype, 'activations');
  const mean = s.affine.row(3);
  const sums = batchNormGradSums(g, s.sx, mean, gu, s.silu ? s.affine : null);
  mean.dispose();
  g.dispose();
  const { coef, dgamma, dbeta } = batchNormGradCoefs(sums, s.affine, s.training, { dgamma: needs[1], dbeta: needs[2] });
  sums.partial.dispose();
  if (!needs[0]) {
    gu.dispose();
    return [null, dgamma, dbeta];
  }
  batchNormGradApply(gu, s.sx, coef);
  return [gu, dgamma, dbeta];
}
