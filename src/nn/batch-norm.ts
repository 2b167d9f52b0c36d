import type { BatchNormParams } from '../autograd/batch-norm.js';
import type { Var } from '../autograd/variable.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { Module } from './module.js';
import type { NormLayer } from './optim.js';

/**
 * torch.nn.BatchNorm2d's state: `weight` (1), `bias` (0), buffers `running_mean` (0) and
 * `running_var` (1). The computation is the autograd op (alone, or fused into a Conv block).
 */
export class BatchNorm2d extends Module implements NormLayer {
  readonly isNormLayer = true;
  readonly state: BatchNormParams;

  constructor(engine: Engine, channels: number, o: { eps?: number; momentum?: number } = {}) {
    super(engine);
    const weight: Var = this.parameter('weight', [channels], new Float32Array(channels).fill(1));
    const bias: Var = this.parameter('bias', [channels], new Float32Array(channels));
    const runningMean: Tensor = this.buffer('running_mean', [channels], new Float32Array(channels));
    const runningVar: Tensor = this.buffer('running_var', [channels], new Float32Array(channels).fill(1));
    this.state = { weight, bias, runningMean, runningVar, eps: o.eps ?? 1e-5, momentum: o.momentum ?? 0.1 };
  }
}
