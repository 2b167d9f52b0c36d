import { afterAll, describe, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { batchNormGradApply, batchNormGradSums } from '../../src/kernels/batch-norm.js';
import { asStored, expectClose, floatDtypes, randomData, testEngine } from '../helpers/gpu.js';

describe('BatchNorm backward kernels', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('per-channel sums of gu and gu (x - mean), one chunk and many, x in f32 and f16', async () => {
    engine = await testEngine();
    for (const [rows, c] of [[7, 5], [1000, 37]]) {
      for (const dtype of floatDtypes(engine)) {
        const gd = randomData(rows * c, rows);
        const xd = asStored(randomData(rows * c, rows + 1, -2, 3), dtype);
        const md = randomData(c, rows + 2);
        const gu = Tensor.fromHost(engine, gd, [rows, c], 'f32', 'other');
        const x = Tensor.fromHost(engine, xd, [rows, c], dtype, 'other');
        const mean = Tensor.fromHost(engine, md, [c], 'f32', 'other');
        const sums = batchNormGradSums(gu, x, mean);
        const ref = new Float64Array(2 * c);
        for (let i = 0; i < rows * c; i++) {
          ref[i % c] += gd[i];
          ref[c + (i % c)] += gd[i] * (xd[i] - md[i % c]);
        }
        expectClose(await sums.read(), ref, 1e-5, 1e-4 * Math.sqrt(rows));
        for (const t of [gu, x, mean, sums]) t.dispose();
      }
    }
  });

  it('applies dx = gu a + x b + d in place, gu in f32 and f16', async () => {
    engine = await testEngine();
    const [rows, c] = [13, 6];
    for (const dtype of floatDtypes(engine)) {
      const gd = asStored(randomData(rows * c, 1), dtype);
      const xd = randomData(rows * c, 2);
      const cd = randomData(3 * c, 3);
      const gu = Tensor.fromHost(engine, gd, [rows, c], dtype, 'other');
      const x = Tensor.fromHost(engine, xd, [rows, c], 'f32', 'other');
      const coef = Tensor.fromHost(engine, cd, [3, c], 'f32', 'other');
      batchNormGradApply(gu, x, coef);
      const ref = asStored(Float32Array.from(gd, (g, i) => g * cd[i % c] + xd[i] * cd[c + (i % c)] + cd[2 * c + (i % c)]), dtype);
      expectClose(await gu.read(), ref, dtype === 'f32' ? 1e-6 : 1e-3);
      for (const t of [gu, x, coef]) t.dispose();
    }
  });
});
