import type { Tensor } from '../gpu/tensor.js';
import { maxPool2d as maxPoolKernel, maxPool2dBackward, maxPool2dWithIndices } from '../kernels/pool.js';
import { isGradEnabled, record, saveForBackward } from './tape.js';
import type { Var } from './variable.js';

/**
 * Max pooling (PyTorch semantics). Its backward keeps only x (SPPF's inputs live in its
 * concat buffer anyway) and recomputes the window argmax with the same kernel and ties.
 */
export function maxPool2d(x: Var, kernel: number, stride: number, padding: number, out?: Tensor): Var {
  const geometry = { kernel, stride, padding };
  const y = maxPoolKernel(x.data, { ...geometry, out });
  const saved = isGradEnabled() && x.requiresGrad ? [saveForBackward(x.data)] : [];
  const xShape = x.shape;
  return record('maxPool2d', [x], y, saved, (g) => {
    const { indices } = maxPool2dWithIndices(saved[0], { ...geometry, out: null, category: 'workspace' });
    return [maxPool2dBackward(g, indices, xShape, geometry)];
  });
}
