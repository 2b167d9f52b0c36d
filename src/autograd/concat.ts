import { Tensor } from '../gpu/tensor.js';
import { copyInto } from '../kernels/copy.js';
import { record, WindowGrad } from './tape.js';
import type { Var } from './variable.js';

const axisOf = (rank: number, axis: number) => (axis < 0 ? axis + rank : axis);

/** Whether the parts are adjacent windows, in order, of one storage along `axis` (then their concatenation is a view). */
function adjacent(parts: readonly Tensor[], axis: number): boolean {
  const first = parts[0];
  return parts.every((t, i) => {
    if (t.storage !== first.storage || t.strides.join() !== first.strides.join()) return false;
    if (t.shape.some((d, k) => k !== axis && d !== first.shape[k])) return false;
    if (i === 0) return true;
    const prev = parts[i - 1];
    return t.offset === prev.offset + prev.shape[axis] * prev.strides[axis];
  });
}

/**
 * Concatenation along `axis` (default: channels, the last). Zero-copy when the producers
 * wrote into adjacent slices of one buffer (the result is a view of it); otherwise the parts
 * are copied into a new tensor. The backward hands each part its slice of the gradient.
 */
export function concat(parts: readonly Var[], axis = -1): Var {
  if (parts.length === 0) throw new Error('concat: no parts');
  const a = axisOf(parts[0].shape.length, axis);
  const tensors = parts.map((p) => p.data);
  const sizes = tensors.map((t) => t.shape[a]);
  const shape = [...tensors[0].shape];
  shape[a] = sizes.reduce((s, d) => s + d, 0);
  for (const t of tensors) {
    if (t.rank !== shape.length || t.shape.some((d, k) => k !== a && d !== shape[k])) {
      throw new Error(`concat: part [${t.shape}] does not match [${tensors[0].shape}] outside axis ${a}`);
    }
  }
  let out: Tensor;
  if (adjacent(tensors, a)) {
    const strides = [...tensors[0].strides];
    out = tensors[0].view(shape, strides, tensors[0].offset);
  } else {
    out = Tensor.empty(tensors[0].engine, shape, tensors[0].dtype, 'activations');
    let start = 0;
    for (const t of tensors) {
      const window = out.slice(a, start, (start += t.shape[a]));
      copyInto(t, window);
      window.dispose();
    }
  }
  return record('concat', parts, out, [], (g, needs) => g.split(a, sizes).map((piece, i) => (needs[i] ? piece : (piece.dispose(), null))));
}

/**
 * Splits along `axis` into consecutive pieces (views, no copy). Each piece's backward hands
 * its gradient back as a window of x's (`WindowGrad`): the sweep adds it into x's gradient
 * there, or starts x's gradient (x's dtype, zero elsewhere) with it.
 */
export function split(x: Var, sizes: readonly number[], axis = -1): Var[] {
  const a = axisOf(x.shape.length, axis);
  const pieces = x.data.split(a, sizes);
  let start = 0;
  return pieces.map((piece) => {
    const begin = start;
    start += piece.shape[a];
    return record('slice', [x], piece, [], (g) => [new WindowGrad(g.view(g.shape, g.strides, g.offset), a, begin)]);
  });
}
