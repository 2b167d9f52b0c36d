import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { batchNormGradApply, batchNormGradSums } from '../kernels/batch-norm.js';
import { copy, copyInto, fill } from '../kernels/copy.js';
import { elementwise, mul } from '../kernels/elementwise.js';
import { moments } from '../kernels/reduce.js';
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

/** Per-channel scale = gamma / sqrt(var + eps) and shift = beta - mean * scale, with 1 / sqrt(var + eps). */
export function foldedAffine(p: BatchNormParams, mean: Tensor, variance: Tensor): { scale: Tensor; shift: Tensor; invstd: Tensor } {
  const invstd = elementwise('inverseSqrt(x0 + x1)', [variance, p.eps]);
  const scale = mul(p.weight.data, invstd);
  const shift = elementwise('x1 - x0 * x2', [mean, p.bias.data, scale]);
  return { scale, shift, invstd };
}

/** running = (1 - momentum) running + momentum batch; the variance enters unbiased (n / (n - 1)). */
function updateRunningStats(p: BatchNormParams, mean: Tensor, variance: Tensor, count: number): void {
  const m = p.momentum;
  elementwise('x0 * x2 + x1 * x3', [p.runningMean, mean, 1 - m, m], { out: p.runningMean });
  elementwise('x0 * x2 + x1 * x3', [p.runningVar, variance, 1 - m, (m * count) / Math.max(count - 1, 1)], { out: p.runningVar });
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
  const stats = o.training ? moments(x.data, [0, 1, 2]) : { mean: p.runningMean, variance: p.runningVar };
  const { scale, shift, invstd } = foldedAffine(p, stats.mean, stats.variance);
  const y = elementwise(o.silu ? 'siluf(x0 * x1 + x2)' : 'x0 * x1 + x2', [x.data, scale, shift], o.out ? { out: o.out } : { outDtype: x.data.dtype });
  if (o.training && !isRecomputing()) updateRunningStats(p, stats.mean, stats.variance, count);
  const mean = stats.mean.view(stats.mean.shape, stats.mean.strides, stats.mean.offset);
  const sx = saveForBackward(x.data);
  const training = o.training;
  const silu = !!o.silu;
  const dtype = x.data.dtype;
  return record('batchNorm2d', [x, p.weight, p.bias], y, [sx, mean, invstd, scale, shift], (g, needs) =>
    backwardRule(g, needs, { sx, mean, invstd, scale, shift, silu, training, count, dtype }),
  );
}

interface Saved {
  sx: Tensor;
  mean: Tensor;
  invstd: Tensor;
  scale: Tensor;
  shift: Tensor;
  silu: boolean;
  training: boolean;
  count: number;
  /** The input's dtype, which its gradient takes (f16 in f16 training: the convolutions' backward then runs on f16). */
  dtype: DType;
}

/**
 * With u = x * scale + shift and gu = dL/du (g itself, or g * silu'(u)):
 * dgamma = invstd * sum(gu (x - mean)), dbeta = sum(gu); in training
 * dx = scale * gu + k * x + d with per-channel k = -scale * invstd^2 * sum(gu (x - mean)) / count
 * and d = -scale * sum(gu) / count - k * mean; in eval dx = scale * gu. One activation-sized
 * temporary (gu, which becomes dx, in the input's dtype), and g is freed as soon as gu
 * exists. Per-channel sums accumulate in f32.
 */
function backwardRule(g: Tensor, needs: readonly boolean[], s: Saved): (Tensor | null)[] {
  const gu = s.silu
    ? elementwise('x0 * x1 + x2', [s.sx, s.scale, s.shift], { outDtype: s.dtype, category: 'activations' })
    : copy(g, 'activations', s.dtype);
  if (s.silu) elementwise('x0 * siluGradf(x1)', [g, gu], { out: gu });
  g.dispose();
  const sums = batchNormGradSums(gu, s.sx, s.mean);
  const [sumGu, sumGuCentered] = [0, 1].map((i) => sums.slice(0, i, i + 1).reshape([s.mean.size]));
  const dgamma = needs[1] ? mul(sumGuCentered, s.invstd) : null;
  if (!needs[0]) {
    gu.dispose();
    return [null, dgamma, needs[2] ? sumGu : null];
  }
  const coef = Tensor.empty(gu.engine, [3, s.mean.size], 'f32', 'workspace');
  const [a, k, d] = [0, 1, 2].map((i) => coef.slice(0, i, i + 1).reshape([s.mean.size]));
  copyInto(s.scale, a);
  if (s.training) {
    elementwise('-x0 * x1 * x1 * x2 * x3', [s.scale, s.invstd, sumGuCentered, 1 / s.count], { out: k });
    mul(k, s.mean, { out: d });
    elementwise('-(x0 * x1 * x3) - x2', [s.scale, sumGu, d, 1 / s.count], { out: d });
  } else {
    fill(k, 0);
    fill(d, 0);
  }
  batchNormGradApply(gu, s.sx, coef);
  return [gu, dgamma, needs[2] ? sumGu : null];
}
