import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { softmax } from '../../src/kernels/softmax.js';
import { softmaxCpu } from '../../src/kernels/softmax.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine } from '../helpers/gpu.js';

describe('softmax', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('softmax and log-softmax over each axis of views, f32 and f16', async () => {
    engine = await testEngine();
    const shape = [3, 4, 37];
    for (const dtype of floatDtypes(engine)) {
      for (const axis of [0, 1, 2]) {
        for (const log of [false, true]) {
          const data = asStored(randomData(444, axis * 2 + +log, -8, 8), dtype);
          const x = tensorWithLayout(engine, data, shape, dtype, axis === 1 ? 'permuted' : 'sliced');
          const y = softmax(x, axis, { log });
          const tol = dtype === 'f16' ? 4e-3 : 2e-6;
          expectClose(await y.read(), softmaxCpu(hostTensor(shape, data), axis, log).data, tol, tol);
          x.dispose();
          y.dispose();
        }
      }
    }
  });

  it('is stable for large logits and handles long rows (attention-sized)', async () => {
    engine = await testEngine();
    const data = randomData(2 * 1601, 9, -5, 5);
    data[7] = 1000;
    const x = Tensor.fromHost(engine, data, [2, 1601], 'f32', 'other');
    const y = softmax(x, -1);
    const got = await y.read();
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, softmaxCpu(hostTensor([2, 1601], data), 1).data, 1e-5, 1e-7);
    x.dispose();
    y.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
