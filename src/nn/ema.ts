import { keep } from '../gpu/scope.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy } from '../kernels/copy.js';
import { emaUpdate } from '../kernels/optimizer.js';
import type { Module } from './module.js';

/**
 * Exponential moving average of a model's weights and buffers (BatchNorm running
 * statistics included), as the reference's ModelEMA: decay(u) = 0.9999 (1 - exp(-u/2000)).
 * The averages live on the GPU in f32 (category `params`), in the model's own order.
 */
export class ModelEMA {
  readonly tensors: Tensor[];

  constructor(
    private readonly model: Module,
    public updates = 0,
    readonly maxDecay = 0.9999,
    readonly tau = 2000,
  ) {
    this.tensors = ModelEMA.sources(model).map((t) => keep(copy(t, 'params')));
  }

  private static sources(model: Module): Tensor[] {
    return [...model.namedParameters().map(([, v]) => v.data), ...model.namedBuffers().map(([, t]) => t)];
  }

  decay(updates = this.updates): number {
    return this.maxDecay * (1 - Math.exp(-updates / this.tau));
  }

  /** Called after each optimizer step. */
  update(): void {
    this.updates++;
    const d = this.decay();
    ModelEMA.sources(this.model).forEach((t, i) => emaUpdate(this.tensors[i], t, d));
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
  }
}
