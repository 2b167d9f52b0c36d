import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { upsampleNearest } from '../../src/kernels/upsample.js';
import { upsampleNearestCpu } from '../../src/kernels/upsample.cpu.js';
import { asStored, floatDtypes, randomData, tensorWithLayout, testEngine } from '../helpers/gpu.js';

describe('upsampleNearest', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('repeats pixels x2 and x3 from any view into a channel slice', async () => {
    engine = await testEngine();
    for (const dtype of floatDtypes(engine)) {
      for (const f of [2, 3]) {
        const shape = [2, 3, 5, 4];
        const data = asStored(randomData(120, f), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, f === 2 ? 'sliced' : 'permuted');
        const cat = Tensor.empty(engine, [2, 3 * f, 5 * f, 7], dtype, 'other');
        const slice = cat.slice(3, 1, 5);
        upsampleNearest(x, f, { out: slice });
        const ref = upsampleNearestCpu(hostTensor(shape, data), f);
        expect(Array.from(await slice.read())).toEqual(Array.from(ref.data));
        for (const t of [x, cat, slice]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(0);
  });
});
