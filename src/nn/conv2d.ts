import { conv2d } from '../autograd/conv.js';
import type { Var } from '../autograd/variable.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { uniform } from './conv-stack.js';
import { Module, type HostEntry } from './module.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  bias?: boolean;
  /** false: a frozen weight (e.g. DFL's fixed bins). */
  trainable?: boolean;
}

/** OIHW (PyTorch) -> O,KH,KW,I (ours): the reduction axis (kh, kw, ci) contiguous. */
export function oihwToOhwi(entry: HostEntry): HostEntry {
  const [o, i, h, w] = entry.shape;
  const out = new Float32Array(entry.data.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((a * h + y) * w + x) * i + b] = entry.data[((a * i + b) * h + y) * w + x];
  }
  return { shape: [o, h, w, i], data: out };
}

export function ohwiToOihw(entry: HostEntry): HostEntry {
  const [o, h, w, i] = entry.shape;
  const out = new Float32Array(entry.data.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((a * i + b) * h + y) * w + x] = entry.data[((a * h + y) * w + x) * i + b];
  }
  return { shape: [o, i, h, w], data: out };
}

/**
 * torch.nn.Conv2d over NHWC activations: parameters `weight` (stored [Cout,KH,KW,Cin/groups],
 * loaded from and saved as OIHW) and optional `bias`. Created zero-filled; `resetParameters`
 * gives PyTorch's default initialization (uniform in +-1/sqrt(fan_in) for weight and bias).
 */
export class Conv2d extends Module {
  readonly weight: Var;
  readonly bias: Var | null;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;

  constructor(
    engine: Engine,
    readonly cin: number,
    readonly cout: number,
    readonly kernel: number,
    o: Conv2dOptions = {},
  ) {
    super(engine);
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    this.groups = o.groups ?? 1;
    const shape = [cout, kernel, kernel, cin / this.groups];
    this.weight = this.parameter('weight', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)), o.trainable ?? true);
    this.bias = o.bias ? this.parameter('bias', [cout], new Float32Array(cout)) : null;
  }

  get fanIn(): number {
    return (this.cin / this.groups) * this.kernel * this.kernel;
  }

  /** Output spatial size for an input of h x w. */
  outputSize(h: number, w: number): [number, number] {
    const f = (n: number) => Math.floor((n + 2 * this.padding - this.kernel) / this.stride) + 1;
    return [f(h), f(w)];
  }

  resetParameters(seed: number): void {
    const bound = 1 / Math.sqrt(this.fanIn);
    this.weight.data.write(uniform(this.weight.data.size, seed, bound));
    this.bias?.data.write(uniform(this.cout, seed + 0x9e37, bound));
  }

  forward(x: Var, out?: Tensor): Var {
    return conv2d(x, this.weight, { stride: this.stride, padding: this.padding, groups: this.groups, bias: this.bias ?? undefined, out });
  }

  protected override fromFileLayout(name: string, entry: HostEntry): HostEntry {
    return name === 'weight' && entry.shape.length === 4 ? oihwToOhwi(entry) : entry;
  }

  protected override toFileLayout(name: string, entry: HostEntry): HostEntry {
    return name === 'weight' ? ohwiToOihw(entry) : entry;
  }
}
