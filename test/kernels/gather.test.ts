import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { gather, indexSelect } from '../../src/kernels/gather.js';
import { gatherCpu } from '../../src/kernels/gather.cpu.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { expectClose, floatDtypes, randomData, asStored, tensorWithLayout, testEngine } from '../helpers/gpu.js';

describe('gather / indexSelect', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('gathers along each axis of a view like torch.gather, NaN for out-of-range indices', async () => {
    engine = await testEngine();
    const shape = [4, 5, 6];
    for (const dtype of floatDtypes(engine)) {
      for (const axis of [0, 1, 2]) {
        const data = asStored(randomData(120, axis), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, 'permuted');
        const ishape = [3, 4, 5];
        const idx = Array.from(randomData(60, axis + 10, 0, 1), (v) => Math.floor(v * shape[axis]));
        idx[5] = shape[axis]; // out of range
        idx[6] = -1;
        const index = Tensor.fromHost(engine, idx, ishape, 'i32', 'other');
        const y = gather(x, axis, index);
        expectClose(await y.read(), gatherCpu(hostTensor(shape, data), axis, hostTensor(ishape, idx)).data, 0, 0);
        for (const t of [x, index, y]) t.dispose();
      }
    }
  });

  it('indexSelect picks rows', async () => {
    engine = await testEngine();
    const x = Tensor.fromHost(engine, [0, 1, 2, 3, 4, 5, 6, 7], [4, 2], 'f32', 'other');
    const idx = Tensor.fromHost(engine, [3, 0, 3], [3], 'i32', 'other');
    const y = indexSelect(x, 0, idx);
    expect(Array.from(await y.read())).toEqual([6, 7, 0, 1, 6, 7]);
    for (const t of [x, idx, y]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
