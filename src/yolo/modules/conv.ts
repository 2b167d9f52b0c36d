import { convBnAct } from '../../autograd/conv-bn.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { BatchNorm2d } from '../../nn/batch-norm.js';
import { Conv2d } from '../../nn/conv2d.js';
import { Module } from '../../nn/module.js';

/** The reference's BatchNorm settings (initialize_weights): eps 1e-3, momentum 0.03. */
export const YOLO_BN = { eps: 1e-3, momentum: 0.03 };

export interface ConvArgs {
  k?: number;
  s?: number;
  /** Padding; default "same" (k // 2). */
  p?: number;
  g?: number;
  act?: boolean;
}

/** Conv: Conv2d (no bias) + BatchNorm2d + SiLU (`act: false`: none). Children `conv` and `bn`. */
export class Conv extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly act: boolean;

  constructor(engine: Engine, c1: number, c2: number, o: ConvArgs = {}) {
    super(engine);
    const k = o.k ?? 1;
    this.conv = this.module('conv', new Conv2d(engine, c1, c2, k, { stride: o.s ?? 1, padding: o.p ?? Math.floor(k / 2), groups: o.g ?? 1 }));
    this.bn = this.module('bn', new BatchNorm2d(engine, c2, YOLO_BN));
    this.act = o.act ?? true;
  }

  outputSize(h: number, w: number): [number, number] {
    return this.conv.outputSize(h, w);
  }

  forward(x: Var, out?: Tensor): Var {
    const c = this.conv;
    return convBnAct(x, { weight: c.weight, stride: c.stride, padding: c.padding, groups: c.groups }, this.bn.state, { act: this.act, training: this.training, out });
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** DWConv: a Conv with gcd(c1, c2) groups (depthwise when c1 == c2). */
export class DWConv extends Conv {
  constructor(engine: Engine, c1: number, c2: number, o: Omit<ConvArgs, 'g'> = {}) {
    super(engine, c1, c2, { ...o, g: gcd(c1, c2) });
  }
}
