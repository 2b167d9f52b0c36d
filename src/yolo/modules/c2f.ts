import { concat, split } from '../../autograd/concat.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { ModuleList, type Block } from '../../nn/sequential.js';
import { Bottleneck } from './bottleneck.js';
import { C3k } from './c3.js';
import { sameSizeSlices } from './channel-slices.js';
import { Conv } from './conv.js';

/**
 * C2f: cv1 (1x1, c1 -> 2c) split into halves a, b; n blocks run one after the other from b,
 * every output kept; cv2 (1x1) over [a, b, m1..mn] ((2 + n) c channels) -> c2. cv1 and each
 * block write straight into their window of one buffer, so the concatenation is free.
 */
export class C2f extends Module {
  readonly c: number;
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: ModuleList<Block>;

  constructor(
    engine: Engine,
    c1: number,
    c2: number,
    n = 1,
    o: { shortcut?: boolean; g?: number; e?: number; block?: (c: number) => Block } = {},
  ) {
    super(engine);
    const c = (this.c = Math.trunc(c2 * (o.e ?? 0.5)));
    this.cv1 = this.module('cv1', new Conv(engine, c1, 2 * c));
    this.cv2 = this.module('cv2', new Conv(engine, (2 + n) * c, c2));
    const block = o.block ?? ((ch: number) => new Bottleneck(engine, ch, ch, { shortcut: o.shortcut ?? false, g: o.g, k: [3, 3], e: 1 }));
    this.m = this.module('m', new ModuleList(engine, Array.from({ length: n }, () => block(c))));
  }

  forward(x: Var, out?: Tensor): Var {
    const c = this.c;
    const [head, ...windows] = sameSizeSlices(x.data, [2 * c, ...this.m.items.map(() => c)]);
    const y = this.cv1.forward(x, head);
    const [a, b] = split(y, [c, c]);
    a.data.dispose();
    const parts = [y];
    let prev = b;
    this.m.items.forEach((m, i) => parts.push((prev = m.forward(prev, windows[i]))));
    b.data.dispose();
    const cat = concat(parts);
    for (const p of parts) p.data.dispose();
    const result = this.cv2.forward(cat, out);
    cat.data.dispose();
    return result;
  }
}

/**
 * C3k2: a C2f whose blocks are C3k(c, c, 2) when `c3k`, else a plain Bottleneck(c, c) with
 * its default e = 0.5 (hidden c / 2, unlike C2f's e = 1); shortcut on by default.
 */
export class C3k2 extends C2f {
  constructor(engine: Engine, c1: number, c2: number, n = 1, o: { c3k?: boolean; e?: number; g?: number; shortcut?: boolean } = {}) {
    const shortcut = o.shortcut ?? true;
    const block = (c: number): Block => (o.c3k ? new C3k(engine, c, c, 2, { shortcut, g: o.g }) : new Bottleneck(engine, c, c, { shortcut, g: o.g }));
    super(engine, c1, c2, n, { e: o.e, g: o.g, block });
  }
}
