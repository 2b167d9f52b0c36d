import { concat, split } from '../../autograd/concat.js';
import { add } from '../../autograd/ops.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { Sequential } from '../../nn/sequential.js';
import { Attention } from './attention.js';
import { Conv } from './conv.js';

/** PSABlock: x + attn(x), then + ffn (1x1 c -> 2c with SiLU, 1x1 2c -> c without). */
export class PSABlock extends Module {
  readonly attn: Attention;
  readonly ffn: Sequential<Conv>;
  readonly residual: boolean;

  constructor(engine: Engine, c: number, o: { attnRatio?: number; numHeads?: number; shortcut?: boolean } = {}) {
    super(engine);
    this.residual = o.shortcut ?? true;
    this.attn = this.module('attn', new Attention(engine, c, o.numHeads ?? 4, o.attnRatio ?? 0.5));
    this.ffn = this.module('ffn', new Sequential(engine, [new Conv(engine, c, 2 * c), new Conv(engine, 2 * c, c, { act: false })]));
  }

  forward(x: Var, out?: Tensor): Var {
    const a = this.attn.forward(x);
    const h = this.residual ? add(x, a) : a;
    if (h !== a) a.data.dispose();
    if (!this.residual) return this.ffn.forward(h, out);
    const f = this.ffn.forward(h);
    const y = add(h, f, { out });
    h.data.dispose();
    f.data.dispose();
    return y;
  }
}

/**
 * C2PSA (c1 == c2): cv1 (1x1 -> 2c) split into a, b; b through n PSABlocks (c / 64 heads);
 * cv2 (1x1) over [a, b']. The blocks read b while they run, so b' cannot overwrite it in
 * place: this concatenation copies (c channels of the P5 map).
 */
export class C2PSA extends Module {
  readonly c: number;
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: Sequential<PSABlock>;

  constructor(engine: Engine, c1: number, c2: number, n = 1, e = 0.5) {
    super(engine);
    if (c1 !== c2) throw new Error(`C2PSA needs c1 == c2, got ${c1} and ${c2}`);
    const c = (this.c = Math.trunc(c1 * e));
    this.cv1 = this.module('cv1', new Conv(engine, c1, 2 * c));
    this.cv2 = this.module('cv2', new Conv(engine, 2 * c, c1));
    const blocks = Array.from({ length: n }, () => new PSABlock(engine, c, { attnRatio: 0.5, numHeads: Math.floor(c / 64) }));
    this.m = this.module('m', new Sequential(engine, blocks));
  }

  forward(x: Var, out?: Tensor): Var {
    const y = this.cv1.forward(x);
    const [a, b] = split(y, [this.c, this.c]);
    y.data.dispose();
    const mixed = this.m.forward(b);
    b.data.dispose();
    const cat = concat([a, mixed]);
    a.data.dispose();
    mixed.data.dispose();
    const result = this.cv2.forward(cat, out);
    cat.data.dispose();
    return result;
  }
}
