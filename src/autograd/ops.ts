import type { Tensor } from '../gpu/tensor.js';
import { binary, elementwise, unary } from '../kernels/elementwise.js';
import { matmul as matmulKernel } from '../kernels/matmul.js';
import { reduce } from '../kernels/reduce.js';
import { record, saveForBackward as save } from './tape.js';
import type { Var } from './variable.js';

/** Sums a broadcast gradient back to the shape of the operand it flowed from. */
export function reduceToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.join() === shape.join()) return g.view(g.shape, g.strides, g.offset);
  const lead = g.rank - shape.length;
  const axes = g.shape.map((d, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1));
  const summed = reduce('sum', g, axes, { keepDims: true });
  return summed.reshape(shape);
}

/** a + b; `out` writes the sum into a given view (e.g. a channel slice of a concat buffer). */
export function add(a: Var, b: Var, o: { out?: Tensor } = {}): Var {
  const out = binary('add', a.data, b.data, { out: o.out });
  return record('add', [a, b], out, [], (g, needs) => [
    needs[0] ? reduceToShape(g, a.shape) : null,
    needs[1] ? reduceToShape(g, b.shape) : null,
  ]);
}

export function sub(a: Var, b: Var): Var {
  const out = binary('sub', a.data, b.data);
  return record('sub', [a, b], out, [], (g, needs) => [
    needs[0] ? reduceToShape(g, a.shape) : null,
    needs[1] ? reduceToShape(unary('neg', g), b.shape) : null,
  ]);
}

export function mul(a: Var, b: Var): Var {
  const out = binary('mul', a.data, b.data);
  const [sa, sb] = [save(a.data), save(b.data)];
  return record('mul', [a, b], out, [sa, sb], (g, needs) => [
    needs[0] ? reduceToShape(binary('mul', g, sb), a.shape) : null,
    needs[1] ? reduceToShape(binary('mul', g, sa), b.shape) : null,
  ]);
}

/** SiLU; its backward needs only the input: s = sigmoid(x), dy/dx = s (1 + x (1 - s)). */
export function silu(x: Var): Var {
  const out = unary('silu', x.data);
  const sx = save(x.data);
  return record('silu', [x], out, [sx], (g) => [elementwise('x0 * siluGradf(x1)', [g, sx])]);
}

/** x^2; one gradient tensor 2 x g (mul(x, x) would make two and add them). */
export function square(x: Var): Var {
  const out = unary('square', x.data);
  const sx = save(x.data);
  return record('square', [x], out, [sx], (g) => [elementwise('2.0 * x0 * x1', [g, sx])]);
}

/** Sigmoid; the backward uses the output: dy/dx = y (1 - y). */
export function sigmoid(x: Var): Var {
  const out = unary('sigmoid', x.data);
  const sy = save(out);
  return record('sigmoid', [x], out, [sy], (g) => [elementwise('x0 * x1 * (1.0 - x1)', [g, sy])]);
}

/** Sum over axes (all by default). */
export function sum(x: Var, axes?: number[]): Var {
  const all = axes ?? [...x.shape.keys()];
  const out = reduce('sum', x.data, all, { keepDims: true });
  const shape = x.shape;
  return record('sum', [x], out, [], (g) => [elementwise('x0', [g.expand(shape)], { outDtype: 'f32' })]);
}

/** Mean over axes (all by default). */
export function mean(x: Var, axes?: number[]): Var {
  const all = axes ?? [...x.shape.keys()];
  const count = all.reduce((s, a) => s * x.shape[a], 1);
  const out = reduce('mean', x.data, all, { keepDims: true });
  const shape = x.shape;
  return record('mean', [x], out, [], (g) => [elementwise('x0 * x1', [g.expand(shape), 1 / count], { outDtype: 'f32' })]);
}

/** Matrix product alpha A B of rank-2 or rank-3 (batched) operands; dA = alpha g B^T, dB = alpha A^T g. */
export function matmul(a: Var, b: Var, o: { alpha?: number } = {}): Var {
  const alpha = o.alpha ?? 1;
  const out = matmulKernel(a.data, b.data, { alpha });
  const [sa, sb] = [save(a.data), save(b.data)];
  return record('matmul', [a, b], out, [sa, sb], (g, needs) => [
    needs[0] ? reduceToShape(matmulKernel(g, sb, { transposeB: true, alpha, outDtype: 'f32' }), a.shape) : null,
    needs[1] ? reduceToShape(matmulKernel(sa, g, { transposeA: true, alpha, outDtype: 'f32' }), b.shape) : null,
  ]);
}
