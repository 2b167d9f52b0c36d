import { checkpoint } from '../autograd/checkpoint.js';
import type { Var } from '../autograd/variable.js';
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { Module } from '../nn/module.js';
import { ModuleList, Sequential } from '../nn/sequential.js';
import type { ModelYaml } from './model-yaml.js';
import { channelSlices } from './modules/channel-slices.js';
import { Detect, type DetectOutput } from './modules/detect.js';
import { Concat } from './modules/resample.js';
import type { SppfVariant } from './modules/sppf.js';

/** One row of the model: where its inputs come from (-1: the image), its module and what it was built from. */
export interface Layer {
  index: number;
  /** Absolute indices of the input layers (-1 is the network input). */
  from: number[];
  /** `from` as the yaml writes it (relative entries negative). */
  fromSpec: number | number[];
  repeats: number;
  /** Module name as in the yaml (`Conv`, `C2f`, `nn.Upsample`, ...). */
  type: string;
  /** Resolved constructor arguments, as the reference prints them. */
  args: unknown[];
  /** Output channels (0 for Detect). */
  channels: number;
  module: Module;
}

/** A single-input layer: it can write its output into a given view. */
type Single = Module & { forward(x: Var, out?: Tensor): Var };

/** Spatial size of a module's output for an input of h x w (convolutions with strides, upsampling). */
function outputSize(m: Module, h: number, w: number): [number, number] {
  if (m instanceof Sequential) return m.items.reduce<[number, number]>(([a, b], item) => outputSize(item, a, b), [h, w]);
  const sized = m as Partial<{ outputSize(h: number, w: number): [number, number] }>;
  return sized.outputSize ? sized.outputSize(h, w) : [h, w];
}

/** Where a layer writes its output: a channel window of a later Concat's buffer. */
interface ConcatTarget {
  concat: number;
  part: number;
}

export interface ForwardOptions {
  /** Keep and return every layer's output (parity tests, inspection); the caller frees them. */
  collect?: boolean;
  /** Run every layer before the head in its own checkpoint (recomputed during backward); Concats then copy. */
  checkpoint?: boolean;
}

/**
 * A detection network built from model yaml: `model.0` ... `model.K` (PyTorch's names), the last
 * one Detect. `forward` runs NHWC images [N, H, W, 3] to the per-level raw head outputs. Layer
 * outputs are freed after their last consumer, and the inputs of each Concat are written straight
 * into its buffer by their producers (no copy) whenever every input can be.
 */
export class DetectionModel extends Module {
  readonly model: ModuleList<Module>;
  readonly detect: Detect;
  /** Downsampling of each detection level, e.g. [8, 16, 32]. */
  readonly stride: number[];
  readonly regMax: number;
  names?: string[];
  private readonly lastUse: number[];
  private readonly targets = new Map<number, ConcatTarget>();

  constructor(
    engine: Engine,
    readonly layers: readonly Layer[],
    /** The model dict it was built from (scale and nc resolved), for checkpoints. */
    readonly yaml: ModelYaml,
    readonly sppf: SppfVariant,
  ) {
    super(engine);
    this.model = this.module('model', new ModuleList(engine, layers.map((l) => l.module)));
    const last = layers[layers.length - 1];
    if (!(last.module instanceof Detect)) throw new Error(`the last layer must be Detect, got ${last.type}`);
    this.detect = last.module;
    this.regMax = this.detect.regMax;
    this.lastUse = layers.map((l) => Math.max(...layers.filter((c) => c.from.includes(l.index)).map((c) => c.index), l.index));
    this.planConcats();
    const sizes = this.layerSizes(256, 256);
    this.stride = last.from.map((f) => 256 / sizes[f][0]);
  }

  get nc(): number {
    return this.detect.nc;
  }

  /** A Concat is written in place when each input is a single-input layer feeding no other Concat. */
  private planConcats(): void {
    for (const l of this.layers) {
      if (!(l.module instanceof Concat)) continue;
      const eligible = l.from.every((f, i) => f >= 0 && l.from.indexOf(f) === i && !this.targets.has(f) && this.isSingle(this.layers[f]));
      if (eligible) l.from.forEach((f, part) => this.targets.set(f, { concat: l.index, part }));
    }
  }

  private isSingle(l: Layer): boolean {
    return !(l.module instanceof Concat) && !(l.module instanceof Detect);
  }

  /** Output size of every layer for an h x w input. */
  layerSizes(h: number, w: number): [number, number][] {
    const sizes: [number, number][] = [];
    for (const l of this.layers) {
      const [ih, iw] = l.from[0] < 0 ? [h, w] : sizes[l.from[0]];
      sizes.push(outputSize(l.module, ih, iw));
    }
    return sizes;
  }

  forward(x: Var, o: ForwardOptions = {}): DetectOutput & { layers?: Var[] } {
    const [, h, w, c] = x.shape;
    const s = Math.max(...this.stride);
    if (x.shape.length !== 4 || c !== 3 || h % s !== 0 || w % s !== 0) {
      throw new UserError(`the model takes NHWC images [N, H, W, 3] with H and W multiples of ${s}, got [${x.shape}]`);
    }
    const sizes = this.layerSizes(h, w);
    const outputs: Var[] = [];
    const windows = new Map<number, Tensor[]>();
    let result: DetectOutput | null = null;
    for (const l of this.layers) {
      const inputs = l.from.map((f) => (f < 0 ? x : outputs[f]));
      if (l.module instanceof Detect) result = l.module.forward(inputs);
      else if (l.module instanceof Concat) outputs[l.index] = l.module.forward(inputs);
      else if (o.checkpoint) outputs[l.index] = checkpoint((h) => (l.module as Single).forward(h), inputs[0]);
      else outputs[l.index] = (l.module as Single).forward(inputs[0], this.windowFor(l.index, x, sizes, windows));
      if (o.collect) continue;
      for (const f of new Set(l.from)) if (f >= 0 && this.lastUse[f] === l.index) outputs[f].data.dispose();
    }
    return o.collect ? { ...result!, layers: outputs } : result!;
  }

  /** The window of its Concat's buffer that layer `i` writes into (allocating the buffer at its first producer). */
  private windowFor(i: number, x: Var, sizes: [number, number][], windows: Map<number, Tensor[]>): Tensor | undefined {
    const t = this.targets.get(i);
    if (!t) return undefined;
    if (!windows.has(t.concat)) {
      const parts = this.layers[t.concat].from;
      windows.set(t.concat, channelSlices(x.data, sizes[i], parts.map((f) => this.layers[f].channels)));
    }
    return windows.get(t.concat)![t.part];
  }
}
