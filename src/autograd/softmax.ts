import { softmax as softmaxKernel, softmaxBackward } from '../kernels/softmax.js';
import { record, saveForBackward } from './tape.js';
import type { Var } from './variable.js';

/** Softmax along `axis` (default the last); the backward needs the output only: dx = y (dy - sum(dy y)). */
export function softmax(x: Var, axis = -1): Var {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const y = softmaxKernel(x.data, a);
  const sy = saveForBackward(y);
  return record('softmax', [x], y, [sy], (g) => [softmaxBackward(sy, g, a, { dtype: 'f32' })]);
}
