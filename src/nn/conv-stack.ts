import { backward } from '../autograd/backward.js';
import type { BatchNormParams } from '../autograd/batch-norm.js';
import { checkpoint } from '../autograd/checkpoint.js';
import { convBnAct } from '../autograd/conv-bn.js';
import { mean, square } from '../autograd/ops.js';
import { withSavedActivations } from '../autograd/tape.js';
import { Var } from '../autograd/variable.js';
import type { Engine } from '../gpu/engine.js';
import { keep, tidy } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { SGD, type ParamGroup } from './optim.js';

interface Block {
  weight: Var;
  bn: BatchNormParams;
}

/** Deterministic uniform values in [-a, a) (xorshift), for weights and inputs. */
export function uniform(n: number, seed: number, a: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}

export interface StackStepOptions {
  /** Blocks per checkpointed segment (0: no checkpointing). */
  segment: number;
  /** Loss scale for f16 (gradients are unscaled by the optimizer; read `optimizer.control` for the skip flag). */
  lossScale?: number;
  /** Store the activations saved for backward in f16 (computing in the input's dtype). */
  savedF16?: boolean;
}

/**
 * A stack of `blocks` conv 3x3 + BatchNorm + SiLU blocks at constant width, trained with
 * the loss mean(y^2) and SGD: the memory/recomputation benchmark of the autograd issue,
 * also used by its tests.
 */
export class ConvStack {
  readonly blocks: Block[];
  readonly optimizer: SGD;

  constructor(
    readonly engine: Engine,
    readonly depth: number,
    readonly channels: number,
    seed = 1,
  ) {
    const c = channels;
    const param = (data: Float32Array, shape: number[]) => new Var(keep(Tensor.fromHost(engine, data, shape, 'f32', 'params')), true);
    const buffer = (value: number) => keep(Tensor.fromHost(engine, new Float32Array(c).fill(value), [c], 'f32', 'params'));
    this.blocks = Array.from({ length: depth }, (_, i) => ({
      weight: param(uniform(c * 9 * c, seed + i, Math.sqrt(3 / (9 * c))), [c, 3, 3, c]),
      bn: { weight: param(new Float32Array(c).fill(1), [c]), bias: param(new Float32Array(c), [c]), runningMean: buffer(0), runningVar: buffer(1), momentum: 0.03, eps: 1e-3 },
    }));
    const params = this.blocks.flatMap((b) => [b.weight, b.bn.weight, b.bn.bias]);
    const group: ParamGroup = { name: 'pg1', params, lr: 0.01, weightDecay: 0, momentum: 0.9 };
    this.optimizer = new SGD(engine, [group], true);
  }

  forward(x: Var, o: StackStepOptions): Var {
    // Each block's output is freed once the next block has consumed it: what backward needs,
    // the ops hold (as views, or f16 copies); the first input belongs to the caller.
    const run = (from: number, to: number) => (h: Var) =>
      this.blocks.slice(from, to).reduce((v, b) => {
        const next = convBnAct(v, { weight: b.weight, stride: 1, padding: 1, groups: 1 }, b.bn, { act: true, training: true });
        if (v !== h) v.data.dispose();
        return next;
      }, h);
    if (o.segment <= 0) return run(0, this.depth)(x);
    // The last segment runs plainly: backward would recompute it first thing, so keeping its
    // activations costs no extra peak and saves that recomputation.
    let h = x;
    for (let from = 0; from < this.depth; from += o.segment) {
      const to = Math.min(from + o.segment, this.depth);
      h = to < this.depth ? checkpoint(run(from, to), h) : run(from, to)(h);
    }
    return h;
  }

  /** One training step on x (any float dtype: f16 runs the f16 activation path); returns the loss tensor [1]. */
  step(x: Tensor, o: StackStepOptions): Tensor {
    const loss = tidy(() => {
      const y = withSavedActivations(o.savedF16 ? 'f16' : 'f32', () => this.forward(new Var(x), o));
      // The loss's own temporaries are freed as they are consumed, like the blocks'.
      const squared = square(y);
      y.data.dispose();
      const l = mean(squared);
      squared.data.dispose();
      const scale = o.lossScale ?? 1;
      backward(l, scale === 1 ? undefined : Tensor.fromHost(this.engine, [scale], l.shape, 'f32', 'other'));
      return keep(l.data);
    });
    this.optimizer.step({ lossScale: o.lossScale });
    this.optimizer.zeroGrad();
    return loss;
  }

  dispose(): void {
    for (const b of this.blocks) {
      for (const t of [b.weight, b.bn.weight, b.bn.bias]) t.dispose();
      b.bn.runningMean.dispose();
      b.bn.runningVar.dispose();
    }
    this.optimizer.dispose();
  }
}
