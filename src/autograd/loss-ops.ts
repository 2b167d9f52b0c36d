import type { Tensor } from '../gpu/tensor.js';
import { elementwise } from '../kernels/elementwise.js';
import { reduce } from '../kernels/reduce.js';
import { logSoftmax } from '../kernels/softmax.js';
import { record, saveForBackward } from './tape.js';
import type { Var } from './variable.js';

/**
 * Element-wise binary cross-entropy of sigmoid(x) against `target` (a constant of x's
 * shape, e.g. soft class targets), computed from the logits as torch's BCEWithLogitsLoss
 * with reduction 'none'. The backward needs only x: dx = g (sigmoid(x) - t).
 */
export function bceWithLogits(x: Var, target: Tensor): Var {
  if (target.shape.join() !== x.shape.join()) throw new Error(`bceWithLogits: target [${target.shape}] for logits [${x.shape}]`);
  const out = elementwise('bceWithLogitsf(x0, x1)', [x.data, target], { outDtype: 'f32' });
  const [sx, st] = [saveForBackward(x.data), saveForBackward(target)];
  return record('bceWithLogits', [x], out, [sx, st], (g) => [elementwise('x0 * (sigmoidf(x1) - x2)', [g, sx, st], { outDtype: 'f32' })]);
}

/**
 * Cross-entropy of softmax(logits) along `axis` against `target`, a constant probability
 * distribution along that axis (one-hot labels, or DFL's two neighbouring bins weighted
 * by distance): -sum(t log softmax(x)), the axis kept with size 1. The backward keeps
 * the log-probabilities: dx = g (softmax(x) - t), which holds because each target row sums to 1.
 */
export function crossEntropy(logits: Var, target: Tensor, axis = -1): Var {
  const a = axis < 0 ? axis + logits.shape.length : axis;
  if (target.shape.join() !== logits.shape.join()) throw new Error(`crossEntropy: target [${target.shape}] for logits [${logits.shape}]`);
  const logp = logSoftmax(logits.data, a, { dtype: 'f32' });
  const terms = elementwise('-x0 * x1', [target, logp]);
  const out = reduce('sum', terms, [a], { keepDims: true });
  terms.dispose();
  const [sl, st] = [saveForBackward(logp), saveForBackward(target)];
  logp.dispose();
  const shape = logits.shape;
  return record('crossEntropy', [logits], out, [sl, st], (g) => [elementwise('x0 * (exp(x1) - x2)', [g.expand(shape), sl, st], { outDtype: 'f32' })]);
}
