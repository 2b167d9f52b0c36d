import type { BinaryOp, UnaryOp } from './elementwise.js';
import { broadcastShapes } from './launch.js';
import { hostTensor, linearIndex, multiIndex, type HostTensor } from './host-tensor.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** CPU references of the named elementwise ops, in float64. */
export const UNARY_CPU: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sigmoid,
  silu: (x) => x * sigmoid(x),
  relu: (x) => Math.max(x, 0),
  abs: Math.abs,
  square: (x) => x * x,
};

export const BINARY_CPU: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: Math.max,
  minimum: Math.min,
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
};

export const CLAMP_CPU = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
export const WHERE_CPU = (c: number, a: number, b: number) => (c !== 0 ? a : b);
export const AXPBY_CPU = (alpha: number, x: number, beta: number, y: number) => alpha * x + beta * y;

/** Applies f with numpy broadcasting over host tensors or scalars, in float64. */
export function mapCpu(f: (...xs: number[]) => number, inputs: (HostTensor | number)[]): HostTensor {
  const tensors = inputs.filter((x): x is HostTensor => typeof x !== 'number');
  const shape = broadcastShapes(...tensors.map((t) => t.shape));
  const out = hostTensor(shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = multiIndex(shape, i);
    const args = inputs.map((x) => {
      if (typeof x === 'number') return x;
      const lead = shape.length - x.shape.length;
      return x.data[linearIndex(x.shape, x.shape.map((d, k) => (d === 1 ? 0 : idx[lead + k])))];
    });
    out.data[i] = f(...args);
  }
  return out;
}
