import { add } from '../../autograd/ops.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { Conv } from './conv.js';

/** Bottleneck: Conv k0 (c1 -> c2 e) then Conv k1 (-> c2, groups g); x is added when shortcut and c1 == c2. */
export class Bottleneck extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly residual: boolean;

  constructor(engine: Engine, c1: number, c2: number, o: { shortcut?: boolean; g?: number; k?: [number, number]; e?: number } = {}) {
    super(engine);
    const [k0, k1] = o.k ?? [3, 3];
    const hidden = Math.trunc(c2 * (o.e ?? 0.5));
    this.cv1 = this.module('cv1', new Conv(engine, c1, hidden, { k: k0 }));
    this.cv2 = this.module('cv2', new Conv(engine, hidden, c2, { k: k1, g: o.g ?? 1 }));
    this.residual = (o.shortcut ?? true) && c1 === c2;
  }

  forward(x: Var, out?: Tensor): Var {
    const h = this.cv1.forward(x);
    if (!this.residual) {
      const y = this.cv2.forward(h, out);
      h.data.dispose();
      return y;
    }
    const y = this.cv2.forward(h);
    h.data.dispose();
    const sum = add(x, y, { out });
    y.data.dispose();
    return sum;
  }
}
