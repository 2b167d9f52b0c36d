import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { copy, fill } from '../../src/kernels/copy.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { asStored, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];

describe('copy / cast / fill', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('copies every layout into a contiguous tensor, in every float dtype pair', async () => {
    engine = await testEngine();
    const shape = [3, 5, 7, 9];
    for (const from of floatDtypes(engine)) {
      for (const to of floatDtypes(engine)) {
        for (const layout of LAYOUTS) {
          const data = randomData(3 * 5 * 7 * 9, 7, -3, 3);
          const src = tensorWithLayout(engine, data, shape, from, layout);
          const out = copy(src, 'other', to);
          expect(out.isContiguous()).toBe(true);
          const expected = asStored(asStored(data, from), to);
          expect(Array.from(await out.read()), `${from}->${to} ${layout}`).toEqual(Array.from(expected));
          src.dispose();
          out.dispose();
        }
      }
    }
  });

  it('broadcasts a size-1 axis and writes into a strided destination only', async () => {
    engine = await testEngine();
    const row = Tensor.fromHost(engine, [1, 2, 3], [1, 3], 'f32', 'other');
    const base = Tensor.fromHost(engine, new Float32Array(4 * 5).fill(-7), [4, 5], 'f32', 'other');
    const window = base.slice(1, 1, 4);
    const { copyInto } = await import('../../src/kernels/copy.js');
    const rows = row.expand([4, 3]);
    copyInto(rows, window);
    expect(Array.from(await base.read())).toEqual([
      -7, 1, 2, 3, -7, -7, 1, 2, 3, -7, -7, 1, 2, 3, -7, -7, 1, 2, 3, -7,
    ]);
    const lower = window.slice(0, 1, 3);
    fill(lower, 0.25);
    expect(Array.from(await window.read())).toEqual([1, 2, 3, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 1, 2, 3]);
    for (const t of [row, rows, base, window, lower]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
