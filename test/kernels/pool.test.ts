import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { maxPool2d } from '../../src/kernels/pool.js';
import { maxPool2dCpu } from '../../src/kernels/pool.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

describe('maxPool2d', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches PyTorch semantics for k5 s1 p2 (SPPF), k2 s2, k3 s2 p1 on border windows, views and dtypes', async () => {
    engine = await testEngine();
    const shape = [2, 7, 9, 5];
    let seed = 0;
    for (const dtype of floatDtypes(engine)) {
      for (const [k, s, p] of [[5, 1, 2], [2, 2, 0], [3, 2, 1]]) {
        const layout: Layout = (['contiguous', 'sliced', 'permuted'] as Layout[])[seed % 3];
        const data = asStored(randomData(630, seed++, -3, -1), dtype); // all negative: padding must never win
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const y = maxPool2d(x, { kernel: k, stride: s, padding: p });
        const ref = maxPool2dCpu(hostTensor(shape, data), k, s, p);
        expect(y.shape).toEqual(ref.shape);
        expectClose(await y.read(), ref.data, 0, 0);
        x.dispose();
        y.dispose();
      }
    }
  });

  it('writes into a channel slice of a concat buffer', async () => {
    engine = await testEngine();
    const data = randomData(1 * 4 * 4 * 3, 5);
    const x = Tensor.fromHost(engine, data, [1, 4, 4, 3], 'f32', 'other');
    const cat = Tensor.empty(engine, [1, 4, 4, 9], 'f32', 'other');
    fill(cat, 7);
    const slice = cat.slice(3, 3, 6);
    maxPool2d(x, { kernel: 5, stride: 1, padding: 2, out: slice });
    const ref = maxPool2dCpu(hostTensor([1, 4, 4, 3], data), 5, 1, 2);
    const got = await cat.read();
    for (let p = 0; p < 16; p++) for (let c = 0; c < 9; c++) expect(got[p * 9 + c]).toBeCloseTo(c >= 3 && c < 6 ? ref.data[p * 3 + c - 3] : 7, 6);
    for (const t of [x, cat, slice]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
