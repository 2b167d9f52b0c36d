import type { Tensor } from '../gpu/tensor.js';
import { upsampleNearest as upsampleKernel, upsampleNearestBackward } from '../kernels/upsample.js';
import { record } from './tape.js';
import type { Var } from './variable.js';

/** Nearest-neighbour upsampling by an integer factor; the backward needs nothing saved. */
export function upsampleNearest(x: Var, scale: number, out?: Tensor): Var {
  const y = upsampleKernel(x.data, scale, { out });
  return record('upsampleNearest', [x], y, [], (g) => [upsampleNearestBackward(g, scale)]);
}
