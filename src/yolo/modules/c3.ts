import { concat } from '../../autograd/concat.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { Sequential } from '../../nn/sequential.js';
import { Bottleneck } from './bottleneck.js';
import { sameSizeSlices } from './channel-slices.js';
import { Conv } from './conv.js';

export interface C3Options {
  shortcut?: boolean;
  g?: number;
  e?: number;
  /** Kernel sizes of the bottlenecks' two convs (C3: 1 and 3; C3k: k and k). */
  k?: [number, number];
}

/**
 * C3: two parallel 1x1 convs (cv1, cv2: c1 -> c_); n bottlenecks (e = 1) on cv1's branch;
 * cv3 (1x1) over [m(cv1(x)), cv2(x)] -> c2, the two branches written into one buffer.
 */
export class C3 extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly cv3: Conv;
  readonly m: Sequential<Bottleneck>;

  constructor(engine: Engine, c1: number, c2: number, n = 1, o: C3Options = {}) {
    super(engine);
    const hidden = Math.trunc(c2 * (o.e ?? 0.5));
    this.cv1 = this.module('cv1', new Conv(engine, c1, hidden));
    this.cv2 = this.module('cv2', new Conv(engine, c1, hidden));
    this.cv3 = this.module('cv3', new Conv(engine, 2 * hidden, c2));
    const k = o.k ?? [1, 3];
    const blocks = Array.from({ length: n }, () => new Bottleneck(engine, hidden, hidden, { shortcut: o.shortcut ?? true, g: o.g, k, e: 1 }));
    this.m = this.module('m', new Sequential(engine, blocks));
  }

  forward(x: Var, out?: Tensor): Var {
    const hidden = this.cv1.conv.cout;
    const [left, right] = sameSizeSlices(x.data, [hidden, hidden]);
    const h = this.cv1.forward(x);
    const a = this.m.forward(h, left);
    h.data.dispose();
    const b = this.cv2.forward(x, right);
    const cat = concat([a, b]);
    a.data.dispose();
    b.data.dispose();
    const result = this.cv3.forward(cat, out);
    cat.data.dispose();
    return result;
  }
}

/** C3k: a C3 whose bottlenecks use k x k kernels in both convs. */
export class C3k extends C3 {
  constructor(engine: Engine, c1: number, c2: number, n = 1, o: Omit<C3Options, 'k'> & { k?: number } = {}) {
    const k = o.k ?? 3;
    super(engine, c1, c2, n, { ...o, k: [k, k] });
  }
}
