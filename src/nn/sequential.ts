import type { Var } from '../autograd/variable.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { Module } from './module.js';

/** A module mapping one value to one, optionally writing its result into a given view. */
export type Block = Module & { forward(x: Var, out?: Tensor): Var };

/** Children named by their index ('0', '1', ...), as torch.nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  constructor(
    engine: Engine,
    readonly items: readonly M[],
  ) {
    super(engine);
    items.forEach((m, i) => this.module(String(i), m));
  }
}

/**
 * torch.nn.Sequential: each block feeds the next; intermediate results are freed as soon
 * as the next block has consumed them (what backward needs, the ops keep), and the last
 * block writes into `out` when given. The input belongs to the caller.
 */
export class Sequential<M extends Block = Block> extends ModuleList<M> {
  forward(x: Var, out?: Tensor): Var {
    let h = x;
    this.items.forEach((m, i) => {
      const next = m.forward(h, i === this.items.length - 1 ? out : undefined);
      if (h !== x) h.data.dispose();
      h = next;
    });
    return h;
  }
}
