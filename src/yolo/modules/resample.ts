import { concat } from '../../autograd/concat.js';
import { upsampleNearest } from '../../autograd/upsample.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';

/** nn.Upsample(scale_factor, mode='nearest'). */
export class Upsample extends Module {
  constructor(
    engine: Engine,
    readonly scale: number,
  ) {
    super(engine);
  }

  outputSize(h: number, w: number): [number, number] {
    return [h * this.scale, w * this.scale];
  }

  forward(x: Var, out?: Tensor): Var {
    return upsampleNearest(x, this.scale, out);
  }
}

/** Concat along channels: a view when the inputs were written into adjacent windows of one buffer, else a copy. */
export class Concat extends Module {
  forward(xs: readonly Var[]): Var {
    return concat(xs);
  }
}
