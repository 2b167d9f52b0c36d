import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { recordBatch, rowwiseMainWgsl, segmentBatches, type SegmentBatch } from './segment-batch.js';

const WG = 256;
/** Elements a workgroup updates (4 per thread). */
const CHUNK = WG * 4;

/**
 * Exponential moving averages, ema = decay * ema + (1 - decay) * value, of many (average,
 * value) pairs (a model's weights and BatchNorm buffers) as multi-tensor batches
 * (segment-batch.ts): ~300 pairs take one dispatch instead of ~300. Built once for tensors
 * that stay allocated (an EMA's averages and the model's weights), all contiguous f32.
 */
export class EmaBatch {
  private readonly batches: SegmentBatch[];

  constructor(
    private readonly engine: Engine,
    private readonly emas: readonly Tensor[],
    private readonly values: readonly Tensor[],
  ) {
    if (emas.length !== values.length) throw new Error(`EmaBatch: ${emas.length} averages for ${values.length} values`);
    emas.forEach((e, i) => {
      const v = values[i];
      if (e.size !== v.size) throw new Error(`EmaBatch: pair ${i} has ${e.size} averages for ${v.size} values`);
      if (e.dtype !== 'f32' || v.dtype !== 'f32' || !e.isContiguous() || !v.isContiguous()) throw new Error(`EmaBatch: pair ${i} is not two contiguous f32 tensors`);
    });
    this.batches = segmentBatches(
      emas.map((e, i) => ({ tensors: [e, values[i]] })),
      [],
      CHUNK,
      WG,
      'optimizer',
    );
  }

  /** Whether this batch was built for exactly these tensors (same objects, in order, none disposed). */
  covers(emas: readonly Tensor[], values: readonly Tensor[]): boolean {
    const same = (a: readonly Tensor[], b: readonly Tensor[]) => a.length === b.length && a.every((t, i) => t === b[i] && !t.isDisposed);
    return same(this.emas, emas) && same(this.values, values);
  }

  /** ema = decay * ema + (1 - decay) * value for every pair. */
  update(decay: number): void {
    for (const b of this.batches) {
      recordBatch(
        this.engine,
        b,
        {
          key: 'optim:ema-batch',
          name: 'ema update (batched)',
          fields: 'decay: f32',
          code: () => rowwiseMainWgsl(WG, '      store0(row, i, P.decay * load0(row, i) + (1.0 - P.decay) * load1(row, i));'),
        },
        (p) => p.f32(decay),
      );
    }
  }

  dispose(): void {
    for (const b of this.batches) b.table.dispose();
  }
}
