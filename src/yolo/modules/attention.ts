import { split } from '../../autograd/concat.js';
import { add, matmul } from '../../autograd/ops.js';
import { softmax } from '../../autograd/softmax.js';
import type { Var } from '../../autograd/variable.js';
import { permute, reshape } from '../../autograd/view-ops.js';
import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../../nn/module.js';
import { Conv } from './conv.js';

/** Drops the forward's reference to each value (the ops keep what their backward needs). */
function free(...vs: Var[]): void {
  for (const v of vs) v.data.dispose();
}

/**
 * Multi-head self-attention over the pixels of a feature map. `qkv` (1x1, no act) gives per
 * head [q (keyDim), k (keyDim), v (headDim)] channels; attention = softmax(q k^T scale) over
 * the keys; the result (per head, attention x v) plus `pe` (depthwise 3x3 conv + BN of v) goes
 * through `proj` (1x1, no act). Heads are folded into the batch of the matrix products.
 */
export class Attention extends Module {
  readonly headDim: number;
  readonly keyDim: number;
  readonly scale: number;
  readonly qkv: Conv;
  readonly proj: Conv;
  readonly pe: Conv;

  constructor(
    engine: Engine,
    readonly dim: number,
    readonly numHeads = 8,
    attnRatio = 0.5,
  ) {
    super(engine);
    this.headDim = Math.floor(dim / numHeads);
    this.keyDim = Math.trunc(this.headDim * attnRatio);
    this.scale = this.keyDim ** -0.5;
    this.qkv = this.module('qkv', new Conv(engine, dim, dim + 2 * this.keyDim * numHeads, { act: false }));
    this.proj = this.module('proj', new Conv(engine, dim, dim, { act: false }));
    this.pe = this.module('pe', new Conv(engine, dim, dim, { k: 3, g: dim, act: false }));
  }

  forward(x: Var, out?: Tensor): Var {
    const [b, h, w] = x.shape;
    const { numHeads: heads, keyDim: kd, headDim: hd } = this;
    const n = h * w;
    // [B, H, W, heads (2 kd + hd)] -> [B, heads, N, 2 kd + hd] (views) -> q, k, v.
    const qkv = this.qkv.forward(x);
    const rows = reshape(qkv, [b, n, heads, 2 * kd + hd]);
    const perHead = permute(rows, [0, 2, 1, 3]);
    const pieces = split(perHead, [kd, kd, hd]);
    free(qkv, rows, perHead);
    // Heads into the batch: [B heads, N, d] (copies: the heads interleave along the channels).
    const [q, k, v] = pieces.map((p, i) => reshape(p, [b * heads, n, i < 2 ? kd : hd]));
    free(...pieces);
    const kT = permute(k, [0, 2, 1]);
    const scores = matmul(q, kT, { alpha: this.scale });
    free(q, k, kT);
    const attn = softmax(scores);
    free(scores);
    const mixed = matmul(attn, v);
    free(attn);
    const vImage = this.toImage(v, h, w);
    free(v);
    const pe = this.pe.forward(vImage);
    free(vImage);
    const mixedImage = this.toImage(mixed, h, w);
    free(mixed);
    const sum = add(mixedImage, pe);
    free(mixedImage, pe);
    const result = this.proj.forward(sum, out);
    free(sum);
    return result;
  }

  /** [B heads, N, hd] -> NHWC [B, H, W, heads hd] with channel = head * hd + d (a copy). */
  private toImage(t: Var, h: number, w: number): Var {
    const [bh, n, hd] = t.shape;
    const b = bh / this.numHeads;
    const byHead = reshape(t, [b, this.numHeads, n, hd]);
    const pixelsFirst = permute(byHead, [0, 2, 1, 3]);
    const image = reshape(pixelsFirst, [b, h, w, this.dim]);
    free(byHead, pixelsFirst);
    return image;
  }
}
