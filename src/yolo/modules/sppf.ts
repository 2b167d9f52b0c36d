import { concat } from '../../autograd/concat.js';
import { maxPool2d } from '../../autograd/pool.js';
import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { sameSizeSlices } from './channel-slices.js';
import { Conv } from './conv.js';

/**
 * Which SPPF: Ultralytics 8.4 builds cv1 without an activation; 8.3 (and checkpoints
 * saved by it) has SiLU there. The parameters are the same.
 */
export type SppfVariant = '8.3' | '8.4';

/**
 * SPPF: cv1 (1x1, c1 -> c1/2), three max-pools (k, stride 1, padding k/2) applied one
 * after another, cv2 (1x1) over the four maps -> c2. cv1 and each pool write into their
 * window of one buffer: the concatenation is free.
 */
export class SPPF extends Module {
  readonly cv1: Conv;
  readonly cv2: Conv;

  constructor(
    engine: Engine,
    c1: number,
    c2: number,
    readonly k = 5,
    variant: SppfVariant = '8.4',
  ) {
    super(engine);
    const hidden = Math.floor(c1 / 2);
    this.cv1 = this.module('cv1', new Conv(engine, c1, hidden, { act: variant === '8.3' }));
    this.cv2 = this.module('cv2', new Conv(engine, 4 * hidden, c2));
  }

  forward(x: Var, out?: Tensor): Var {
    const hidden = this.cv1.conv.cout;
    const windows = sameSizeSlices(x.data, [hidden, hidden, hidden, hidden]);
    const maps = [this.cv1.forward(x, windows[0])];
    for (let i = 1; i < 4; i++) maps.push(maxPool2d(maps[i - 1], this.k, 1, Math.floor(this.k / 2), windows[i]));
    const cat = concat(maps);
    for (const m of maps) m.data.dispose();
    const result = this.cv2.forward(cat, out);
    cat.data.dispose();
    return result;
  }
}
