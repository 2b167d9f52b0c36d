import type { Tensor } from '../gpu/tensor.js';
import { conv2d as conv2dKernel } from '../kernels/conv2d.js';
import { batchNorm2d, foldedAffine, type BatchNormParams } from './batch-norm.js';
import { conv2d } from './conv.js';
import { isGradEnabled } from './tape.js';
import { Var } from './variable.js';

export interface ConvSpec {
  weight: Var;
  stride: number;
  padding: number;
  groups: number;
}

/**
 * The Conv block: conv (no bias) + BatchNorm2d + optional SiLU. For inference (eval mode,
 * nothing needing gradients) it runs as one conv kernel with BatchNorm folded into its
 * epilogue; otherwise as conv then BatchNorm (+SiLU), the conv output freed as soon as
 * only the BatchNorm's backward holds it.
 */
export function convBnAct(x: Var, conv: ConvSpec, bn: BatchNormParams, o: { act: boolean; training: boolean; out?: Tensor }): Var {
  const shape = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
  const needsGrad = isGradEnabled() && (x.requiresGrad || conv.weight.requiresGrad || bn.weight.requiresGrad || bn.bias.requiresGrad);
  if (!o.training && !needsGrad) {
    const { affine, scale, shift } = foldedAffine(bn, { mean: bn.runningMean, variance: bn.runningVar });
    const y = conv2dKernel(x.data, conv.weight.data, { ...shape, scale, shift, silu: o.act, out: o.out });
    for (const t of [affine, scale, shift]) t.dispose();
    return new Var(y);
  }
  const z = conv2d(x, conv.weight, shape);
  const y = batchNorm2d(z, bn, { training: o.training, silu: o.act, out: o.out });
  z.data.dispose();
  return y;
}
