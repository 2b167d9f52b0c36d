import { keep } from '../gpu/scope.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy, copyInto } from '../kernels/copy.js';
import { EmaBatch } from '../kernels/ema-batch.js';
import type { HostEntry, Module } from './module.js';

/** What a checkpoint keeps of an EMA: the update count and the averages in PyTorch names and layouts. */
export interface EmaState {
  updates: number;
  stateDict: Map<string, HostEntry>;
}

/**
 * Exponential moving average of a model's weights and buffers (BatchNorm running
 * statistics included), as the reference's ModelEMA: decay(u) = 0.9999 (1 - exp(-u/2000)).
 * The averages live on the GPU in f32 (category `params`), in the model's own order.
 */
export class ModelEMA {
  readonly tensors: Tensor[];
  /** The update of every average, built at the first update and kept while the tensors stay the same. */
  private batch: EmaBatch | null = null;

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
    const sources = ModelEMA.sources(this.model);
    if (!this.batch?.covers(this.tensors, sources)) {
      this.batch?.dispose();
      this.batch = new EmaBatch(this.model.engine, this.tensors, sources);
    }
    this.batch.update(this.decay());
  }

  /**
   * Exchanges the model's weights and buffers with the averages; a second call swaps them back.
   * Validation runs the model between the two, on the EMA weights as the reference validates.
   */
  swap(): void {
    ModelEMA.sources(this.model).forEach((t, i) => {
      const held = copy(t, 'workspace');
      copyInto(this.tensors[i], t);
      copyInto(held, this.tensors[i]);
      held.dispose();
    });
  }

  /** The average standing for each of the model's own parameters and buffers. */
  private averageOf(): (own: Tensor) => Tensor {
    const index = new Map(ModelEMA.sources(this.model).map((t, i) => [t, this.tensors[i]]));
    return (own) => index.get(own)!;
  }

  /** The averages as a state dict of the model (what the reference saves and validates). */
  async state(): Promise<EmaState> {
    return { updates: this.updates, stateDict: await this.model.stateDict(this.averageOf()) };
  }

  loadState(s: EmaState, source?: string): void {
    this.model.loadStateDict(s.stateDict, { strict: true, source, target: this.averageOf() });
    this.updates = s.updates;
  }

  dispose(): void {
    this.batch?.dispose();
    for (const t of this.tensors) t.dispose();
  }
}
