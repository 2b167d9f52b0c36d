import type { Tensor } from '../gpu/tensor.js';
import { conv2d as conv2dKernel } from '../kernels/conv2d.js';
import { conv2dBiasGrad, conv2dInputGrad, conv2dWeightGrad } from '../kernels/conv2d-backward.js';
import { isGradEnabled, record, saveForBackward } from './tape.js';
import type { Var } from './variable.js';

export interface ConvOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  bias?: Var;
  /** Write the output into this view (e.g. a channel slice of a concat buffer). */
  out?: Tensor;
}

/**
 * 2-D convolution of NHWC x with a [Cout, KH, KW, Cin/groups] weight. Its backward keeps
 * x only if the weight needs a gradient and the weight only if x does. x's gradient takes
 * x's dtype (f16 in f16 training: half the bytes through the backward, as mixed precision
 * does); the weight's and bias's gradients are f32.
 */
export function conv2d(x: Var, weight: Var, o: ConvOptions = {}): Var {
  const shape = { stride: o.stride, padding: o.padding, groups: o.groups };
  const y = conv2dKernel(x.data, weight.data, { ...shape, bias: o.bias?.data, out: o.out });
  const inputs = o.bias ? [x, weight, o.bias] : [x, weight];
  const tracking = isGradEnabled();
  const sx = tracking && weight.requiresGrad ? saveForBackward(x.data) : null;
  const sw = tracking && x.requiresGrad ? saveForBackward(weight.data) : null;
  const xShape = x.shape;
  const xDtype = x.data.dtype;
  const wShape = weight.shape;
  return record('conv2d', inputs, y, [sx, sw].filter((t): t is Tensor => t !== null), (g, needs) => [
    needs[0] ? conv2dInputGrad(g, sw!, xShape, { ...shape, dtype: xDtype }) : null,
    needs[1] ? conv2dWeightGrad(g, sx!, wShape, shape) : null,
    needs[2] ? conv2dBiasGrad(g) : null,
  ]);
}
