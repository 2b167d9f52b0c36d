import type { Tensor } from '../gpu/tensor.js';
import { conv2d as conv2dKernel } from '../kernels/conv2d.js';
import { conv2dBiasGrad, conv2dInputGrad, conv2dWeightGrad } from '../kernels/conv2d-backward.js';
import { copy } from '../kernels/copy.js';
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
 * does); the weight's and bias's gradients are f32. A gradient arriving in f32 for an f16
 * output (the loss's, at the detection head's last convolutions) is rounded to f16 first, as
 * autocast's gradients of f16 outputs are: the backward GEMMs then run on f16 operands (the
 * tensor cores) at half the bytes, under the trainer's loss scaling.
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
  const yDtype = y.dtype;
  return record('conv2d', inputs, y, [sx, sw].filter((t): t is Tensor => t !== null), (g, needs) => {
    const gy = g.dtype === yDtype ? g : copy(g, 'activations', yDtype);
    try {
      return [
        needs[0] ? conv2dInputGrad(gy, sw!, xShape, { ...shape, dtype: xDtype }) : null,
        needs[1] ? conv2dWeightGrad(gy, sx!, wShape, shape) : null,
        needs[2] ? conv2dBiasGrad(gy) : null,
      ];
    } finally {
      if (gy !== g) gy.dispose();
    }
  });
}
