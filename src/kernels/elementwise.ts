import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { broadcastShapes, enables, grid1d, launch, linearIndexWgsl } from './launch.js';
import { STRIDED_WGSL, stridedParams } from './strided.js';

const WG = 256;

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'sigmoid' | 'silu' | 'relu' | 'abs' | 'square';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | CompareOp;
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** Each op as a WGSL f32 expression over x0, x1, x2 (inputs, computed in f32 whatever the storage dtype). */
const UNARY: Record<UnaryOp, string> = {
  neg: '-x0',
  exp: 'exp(x0)',
  log: 'log(x0)',
  sqrt: 'sqrt(x0)',
  sigmoid: 'sigmoidf(x0)',
  silu: 'x0 * sigmoidf(x0)',
  relu: 'max(x0, 0.0)',
  abs: 'abs(x0)',
  square: 'x0 * x0',
};

const BINARY: Record<BinaryOp, string> = {
  add: 'x0 + x1',
  sub: 'x0 - x1',
  mul: 'x0 * x1',
  div: 'x0 / x1',
  // Like torch.pow for a negative base and an integer exponent: sign from the exponent's parity.
  pow: 'powf(x0, x1)',
  maximum: 'max(x0, x1)',
  minimum: 'min(x0, x1)',
  eq: 'select(0.0, 1.0, x0 == x1)',
  ne: 'select(0.0, 1.0, x0 != x1)',
  lt: 'select(0.0, 1.0, x0 < x1)',
  le: 'select(0.0, 1.0, x0 <= x1)',
  gt: 'select(0.0, 1.0, x0 > x1)',
  ge: 'select(0.0, 1.0, x0 >= x1)',
};

const HELPERS_WGSL = /* wgsl */ `
fn sigmoidf(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
fn powf(a: f32, b: f32) -> f32 {
  let m = pow(abs(a), b);
  let odd = b == trunc(b) && (i32(b) & 1) == 1;
  return select(select(m, -m, odd), select(m, pow(a, b), b != trunc(b)), a >= 0.0);
}`;

export interface ElementwiseOptions {
  /** Write into this view (may be an input: in place) instead of a new tensor. */
  out?: Tensor;
  outDtype?: DType;
  category?: Category;
}

/**
 * The one elementwise kernel: `expr` (WGSL over x0, x1, x2) applied with numpy
 * broadcasting to up to three operands, each a tensor view or a scalar. Comparison ops
 * produce 0/1 in the output's float dtype. Operands are read through their strides.
 */
export function elementwise(expr: string, inputs: (Tensor | number)[], options: ElementwiseOptions = {}): Tensor {
  const tensors = inputs.filter((x): x is Tensor => typeof x !== 'number');
  if (tensors.length === 0) throw new Error('elementwise: at least one operand must be a tensor');
  const engine = tensors[0].engine;
  const shape = broadcastShapes(...tensors.map((t) => t.shape));
  const out = options.out ?? Tensor.empty(engine, shape, options.outDtype ?? tensors[0].dtype, options.category ?? 'activations');
  if (out.shape.join() !== shape.join()) throw new Error(`elementwise: out has shape [${out.shape}], operands broadcast to [${shape}]`);
  // Operands sharing a storage (x * x, in-place outputs) are bound once: WebGPU rejects
  // overlapping writable bindings in one dispatch. Each operand keeps its own offsets.
  const operands = [out, ...tensors];
  const storages = [...new Set(operands.map((t) => t.storage))];
  const bindingOf = (t: Tensor) => storages.indexOf(t.storage);
  const bound = storages.map((st) => operands.find((t) => t.storage === st)!);
  for (const t of operands) {
    if (t.dtype !== bound[bindingOf(t)].dtype) throw new Error('elementwise: operands sharing a storage must have one dtype');
  }
  const scalars: number[] = [];
  const reads: string[] = [];
  const swizzle = ['x', 'y', 'z', 'w'];
  let operand = 1;
  inputs.forEach((x, i) => {
    if (typeof x === 'number') {
      reads.push(`let x${i} = P.scalars.${swizzle[scalars.length]};`);
      scalars.push(x);
    } else {
      reads.push(`let x${i} = f32(buf${bindingOf(x)}[o.${swizzle[operand++]}]);`);
    }
  });
  const decls = bound.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> buf${b}: array<${t.dtype}>;`);
  const signature = inputs.map((x) => (typeof x === 'number' ? 's' : `${x.dtype}@${bindingOf(x)}`)).join(',');
  const key = `ew:${expr}:${signature}->${out.dtype}@${bindingOf(out)}`;
  launch(
    engine,
    {
      key,
      name: `elementwise ${expr}`,
      build: () => /* wgsl */ `${enables(out.dtype, ...tensors.map((t) => t.dtype))}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
${HELPERS_WGSL}
${decls.join('\n')}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let o = offsetsOf(i);
  ${reads.join('\n  ')}
  buf${bindingOf(out)}[o.x] = ${out.dtype}(${expr});
}`,
    },
    bound,
    stridedParams(shape, operands, scalars),
    grid1d(engine, out.size, WG),
  );
  return out;
}

export function unary(op: UnaryOp, x: Tensor, options?: ElementwiseOptions): Tensor {
  return elementwise(UNARY[op], [x], options);
}

/** a op b with broadcasting; either side may be a scalar. */
export function binary(op: BinaryOp, a: Tensor | number, b: Tensor | number, options?: ElementwiseOptions): Tensor {
  return elementwise(BINARY[op], [a, b], options);
}

export const add = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('add', a, b, o);
export const sub = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('sub', a, b, o);
export const mul = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('mul', a, b, o);
export const div = (a: Tensor | number, b: Tensor | number, o?: ElementwiseOptions) => binary('div', a, b, o);

/** min(max(x, lo), hi). */
export function clamp(x: Tensor, lo: number, hi: number, options?: ElementwiseOptions): Tensor {
  return elementwise('clamp(x0, x1, x2)', [x, lo, hi], options);
}

/** cond != 0 ? a : b, with broadcasting. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number, options?: ElementwiseOptions): Tensor {
  return elementwise('select(x2, x1, x0 != 0.0)', [cond, a, b], options);
}

/** alpha * x + beta * y (optimizer and gradient-accumulation arithmetic). */
export function axpby(alpha: number, x: Tensor, beta: number, y: Tensor, options?: ElementwiseOptions): Tensor {
  return elementwise('x0 * x1 + x2 * x3', [alpha, x, beta, y], options);
}
