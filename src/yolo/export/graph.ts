/**
 * A small builder for ONNX graphs: unique value names scoped by module path, initializers in
 * the graph's float precision (f32, or f16 with `half`), shared constants, and the handful of
 * composite patterns the YOLO emitters repeat (convolution, SiLU).
 */
import {
  attr,
  DataType,
  float16Tensor,
  floatTensor,
  int64Tensor,
  type OnnxAttribute,
  type OnnxNode,
  type OnnxTensor,
} from '../../io/onnx-proto.js';

export interface ConvAttrs {
  stride: number;
  padding: number;
  groups: number;
}

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(readonly half: boolean) {}

  /** The element type of the graph's float values. */
  get floatType(): typeof DataType.FLOAT | typeof DataType.FLOAT16 {
    return this.half ? DataType.FLOAT16 : DataType.FLOAT;
  }

  /** `hint`, or `hint_1`, `hint_2`, ... when taken. */
  private fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds a node named `scope/opType`; returns its `outputs` output names. */
  opN(scope: string, opType: string, inputs: readonly string[], outputs: number, attributes: OnnxAttribute[] = []): string[] {
    const name = this.fresh(`${scope}/${opType}`);
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(`${name}_output_${i}`));
    this.nodes.push({ opType, inputs: [...inputs], outputs: outs, name, attributes });
    return [...outs];
  }

  op(scope: string, opType: string, inputs: readonly string[], attributes: OnnxAttribute[] = []): string {
    return this.opN(scope, opType, inputs, 1, attributes)[0];
  }

  /** Gives a node's output value another name (a graph output's); nothing may have consumed it yet. */
  rename(value: string, name: string): void {
    const i = this.nodes.findIndex((n) => n.outputs.includes(value));
    if (i < 0 || this.nodes.some((n) => n.inputs.includes(value))) throw new Error(`cannot rename ${value}`);
    this.nodes[i] = { ...this.nodes[i], outputs: this.nodes[i].outputs.map((o) => (o === value ? name : o)) };
    this.used.add(name);
  }

  /** A float initializer in the graph's precision. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    const n = this.fresh(name);
    this.initializers.push(this.half ? float16Tensor(n, dims, data) : floatTensor(n, dims, data));
    return n;
  }

  /** A float32 initializer whatever the graph's precision (e.g. Resize scales). */
  floats32(name: string, dims: readonly number[], data: Float32Array): string {
    const n = this.fresh(name);
    this.initializers.push(floatTensor(n, dims, data));
    return n;
  }

  /** An int64 constant, shared by every use of the same values (shapes, axes, split sizes). */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.shared(`i64:${dims}:${values}`, () => {
      const n = this.fresh(`const_i64_${values.join('_').replace(/-/g, 'm')}`);
      this.initializers.push(int64Tensor(n, dims, values));
      return n;
    });
  }

  /** A scalar in the graph's float precision, shared. */
  scalar(value: number): string {
    return this.shared(`f:${value}`, () => this.floats(`const_${String(value).replace(/[-.]/g, '_')}`, [], Float32Array.of(value)));
  }

  private shared(key: string, make: () => string): string {
    if (!this.constants.has(key)) this.constants.set(key, make());
    return this.constants.get(key)!;
  }

  /** Conv with OIHW `weight` and optional `bias` as initializers named after `scope`. */
  conv(scope: string, x: string, weight: { shape: number[]; data: Float32Array }, bias: Float32Array | null, a: ConvAttrs): string {
    const [, , kh, kw] = weight.shape;
    const inputs = [x, this.floats(`${scope}.weight`, weight.shape, weight.data)];
    if (bias) inputs.push(this.floats(`${scope}.bias`, [bias.length], bias));
    return this.op(scope, 'Conv', inputs, [
      attr.ints('dilations', [1, 1]),
      attr.int('group', a.groups),
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('pads', [a.padding, a.padding, a.padding, a.padding]),
      attr.ints('strides', [a.stride, a.stride]),
    ]);
  }

  /** x * sigmoid(x). */
  silu(scope: string, x: string): string {
    return this.op(scope, 'Mul', [x, this.op(scope, 'Sigmoid', [x])]);
  }
}
