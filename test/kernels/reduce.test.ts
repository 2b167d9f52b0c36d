import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { argmax, moments, reduce, type ReduceOp } from '../../src/kernels/reduce.js';
import { ARGMAX, MAX, MEAN, MIN, reduceCpu, SUM, VARIANCE } from '../../src/kernels/reduce.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

const CPU: Record<ReduceOp, (v: number[]) => number> = { sum: SUM, mean: MEAN, max: MAX, min: MIN };
const AXES = [[0], [3], [0, 1, 2], [1, 3], [0, 1, 2, 3]];
const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];

describe('reductions', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('sum, mean, max and min over axis sets, layouts and dtypes', async () => {
    engine = await testEngine();
    const shape = [3, 5, 4, 7];
    for (const dtype of floatDtypes(engine)) {
      for (const [i, axes] of AXES.entries()) {
        const data = asStored(randomData(420, i, -2, 2), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, LAYOUTS[i % 3]);
        for (const op of ['sum', 'mean', 'max', 'min'] as ReduceOp[]) {
          const y = reduce(op, x, axes);
          const ref = reduceCpu(hostTensor(shape, data), axes, CPU[op]);
          expect(y.shape).toEqual(ref.shape);
          expectClose(await y.read(), asStored(Float32Array.from(ref.data), dtype), dtype === 'f16' ? 2e-3 : 1e-5, dtype === 'f16' ? 5e-3 : 1e-5);
          y.dispose();
        }
        x.dispose();
      }
    }
  });

  it('keepDims, argmax with first-index ties, and moments (mean, biased variance)', async () => {
    engine = await testEngine();
    const data = randomData(2 * 9 * 6, 9);
    data[3] = data[9] = 5; // a tie in row 0 along the last axis: indices 3 and... 9 is row 1
    data[1 * 6 + 2] = 5;
    const x = Tensor.fromHost(engine, data, [2, 9, 6], 'f32', 'other');
    const k = reduce('sum', x, [1], { keepDims: true });
    expect(k.shape).toEqual([2, 1, 6]);
    const am = argmax(x, 2);
    expect(Array.from(await am.read())).toEqual(Array.from(reduceCpu(hostTensor([2, 9, 6], data), [2], ARGMAX).data));
    const { mean, variance } = moments(x, [0, 1]);
    expectClose(await mean.read(), reduceCpu(hostTensor([2, 9, 6], data), [0, 1], MEAN).data, 1e-5);
    expectClose(await variance.read(), reduceCpu(hostTensor([2, 9, 6], data), [0, 1], VARIANCE).data, 1e-5);
    for (const t of [x, k, am, mean, variance]) t.dispose();
  });

  it('is exact to float64 within 1e-5 on a long reduction and bitwise repeatable', async () => {
    engine = await testEngine();
    const data = randomData(300_001, 11);
    const x = Tensor.fromHost(engine, data, [300_001], 'f32', 'other');
    const a = reduce('sum', x);
    const b = reduce('sum', x);
    const ref = SUM(Array.from(data));
    const [va] = await a.read();
    expect(Math.abs(va - ref) / Math.abs(ref)).toBeLessThan(1e-5);
    expect((await b.read())[0]).toBe(va);
    for (const t of [x, a, b]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
