import { contiguous } from '../kernels/copy.js';
import { record } from './tape.js';
import type { Var } from './variable.js';

/**
 * Reshape (one axis may be -1): a view of a contiguous value, otherwise a contiguous copy
 * first (as PyTorch's reshape). The gradient is reshaped back the same way.
 */
export function reshape(x: Var, shape: readonly number[]): Var {
  const xShape = x.shape;
  const source = contiguous(x.data, 'activations');
  const out = source.reshape(shape);
  source.dispose();
  return record('reshape', [x], out, [], (g) => {
    const dense = contiguous(g, 'activations');
    const back = dense.reshape(xShape);
    dense.dispose();
    return [back];
  });
}

/** Axis permutation (a view); the gradient is permuted back (a view of it). */
export function permute(x: Var, axes: readonly number[]): Var {
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return record('permute', [x], x.data.permute(axes), [], (g) => [g.permute(inverse)]);
}
