import type { Var } from '../../autograd/variable.js';
import type { Engine } from '../../gpu/engine.js';
import { Conv2d } from '../../nn/conv2d.js';
import { Module } from '../../nn/module.js';
import { ModuleList, Sequential, type Block } from '../../nn/sequential.js';
import { Conv, DWConv } from './conv.js';

/** Per detection level, NHWC: `box` [N, H, W, 4 regMax] DFL logits (side-major: side * regMax + bin), `cls` [N, H, W, nc] class logits. */
export interface DetectOutput {
  box: Var[];
  cls: Var[];
}

/** DFL: a frozen 1x1 conv (regMax -> 1) whose weights are the bins 0..regMax-1: the expectation of a softmax over bins. */
export class DFL extends Module {
  readonly conv: Conv2d;

  constructor(engine: Engine, readonly regMax = 16) {
    super(engine);
    this.conv = this.module('conv', new Conv2d(engine, regMax, 1, 1, { trainable: false }));
    this.conv.weight.data.write(Float32Array.from({ length: regMax }, (_, i) => i));
  }
}

/**
 * The detection head: per level a box branch cv2 (Conv 3x3, Conv 3x3, Conv2d 1x1 -> 4 regMax)
 * and a class branch cv3: legacy (YOLOv8) Conv 3x3, Conv 3x3, Conv2d 1x1 -> nc; otherwise
 * (YOLO11) [DWConv 3x3, Conv 1x1] twice then Conv2d 1x1 -> nc. Returns the raw per-level maps;
 * decoding (DFL expectation, anchors, sigmoid) is `decode`'s job.
 */
export class Detect extends Module {
  readonly regMax = 16;
  readonly cv2: ModuleList<Sequential>;
  readonly cv3: ModuleList<Sequential>;
  readonly dfl: DFL;

  constructor(
    engine: Engine,
    readonly nc: number,
    readonly channels: readonly number[],
    readonly legacy: boolean,
  ) {
    super(engine);
    const c2 = Math.max(16, Math.floor(channels[0] / 4), 4 * this.regMax);
    const c3 = Math.max(channels[0], Math.min(nc, 100));
    const seq = (blocks: Block[]) => new Sequential(engine, blocks);
    const box = (x: number) => seq([new Conv(engine, x, c2, { k: 3 }), new Conv(engine, c2, c2, { k: 3 }), new Conv2d(engine, c2, 4 * this.regMax, 1, { bias: true })]);
    const cls = (x: number) =>
      legacy
        ? seq([new Conv(engine, x, c3, { k: 3 }), new Conv(engine, c3, c3, { k: 3 }), new Conv2d(engine, c3, nc, 1, { bias: true })])
        : seq([
            seq([new DWConv(engine, x, x, { k: 3 }), new Conv(engine, x, c3)]),
            seq([new DWConv(engine, c3, c3, { k: 3 }), new Conv(engine, c3, c3)]),
            new Conv2d(engine, c3, nc, 1, { bias: true }),
          ]);
    this.cv2 = this.module('cv2', new ModuleList(engine, channels.map(box)));
    this.cv3 = this.module('cv3', new ModuleList(engine, channels.map(cls)));
    this.dfl = this.module('dfl', new DFL(engine, this.regMax));
  }

  forward(xs: readonly Var[]): DetectOutput {
    return { box: xs.map((x, i) => this.cv2.items[i].forward(x)), cls: xs.map((x, i) => this.cv3.items[i].forward(x)) };
  }

  /** The reference's bias_init: box biases 1, class biases log(5 / nc / (640 / stride)^2). */
  initBiases(strides: readonly number[]): void {
    const last = (s: Sequential) => s.items[s.items.length - 1] as Conv2d;
    strides.forEach((s, i) => {
      const box = last(this.cv2.items[i]);
      box.bias!.data.write(new Float32Array(box.cout).fill(1));
      const cls = last(this.cv3.items[i]);
      cls.bias!.data.write(new Float32Array(cls.cout).fill(Math.log(5 / this.nc / (640 / s) ** 2)));
    });
  }
}
