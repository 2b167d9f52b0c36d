import type { Tensor } from '../gpu/tensor.js';
import { elementwise, mul } from '../kernels/elementwise.js';
import { moments, sum } from '../kernels/reduce.js';
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
  return record('batchNorm2d', [x, p.weight, p.bias], y, [sx, mean, invstd, scale, shift], (g, needs) =>
    backwardRule(g, needs, { sx, mean, invstd, scale, shift, silu, training, count }),
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
}

/**
 * With u = x * scale + shift and gu = dL/du (g itself, or g * silu'(u)):
 * dgamma = sum(gu * xhat), dbeta = sum(gu), xhat = (x - mean) * invstd; in training
 * dx = scale * gu + k * x + c with per-channel k = -scale * invstd^2 * sum(gu (x - mean)) / count
 * and c = -scale * sum(gu) / count - k * mean; in eval dx = scale * gu. At most two
 * activation-sized temporaries live besides g (gu, which becomes dx, and one product).
 */
function backwardRule(g: Tensor, needs: readonly boolean[], s: Saved): (Tensor | null)[] {
  let gu = g;
  if (s.silu) {
    gu = elementwise('x0 * x1 + x2', [s.sx, s.scale, s.shift], { outDtype: 'f32', category: 'activations' });
    elementwise('x0 * siluGradf(x1)', [g, gu], { out: gu });
    g.dispose(); // not needed past gu: free it before the other temporaries exist
  }
  const sumGu = sum(gu, [0, 1, 2], { outDtype: 'f32' });
  const centered = elementwise('x0 * (x1 - x2)', [gu, s.sx, s.mean], { outDtype: 'f32', category: 'workspace' });
  const sumGuCentered = sum(centered, [0, 1, 2], { outDtype: 'f32' });
  const dgamma = needs[1] ? mul(sumGuCentered, s.invstd) : null;
  let dx: Tensor | null = null;
  if (needs[0] && s.training) {
    const k = elementwise('-x0 * x1 * x1 * x2', [s.scale, s.invstd, sumGuCentered]);
    const c = mul(k, s.mean);
    elementwise('-(x0 * x1) - x2', [s.scale, sumGu, c], { out: c });
    const n = 1 / s.count;
    elementwise('(x0 * x1 + x2) * x3', [s.sx, k, c, n], { out: centered });
    dx = elementwise('x0 * x1 + x2', [gu, s.scale, centered], gu === g ? { category: 'activations' } : { out: gu });
  } else if (needs[0]) {
    dx = elementwise('x0 * x1', [gu, s.scale], gu === g ? { outDtype: 'f32', category: 'activations' } : { out: gu });
  }
  centered.dispose();
  if (gu !== g && dx !== gu) gu.dispose();
  return [dx, dgamma, needs[2] ? sumGu : null];
}
