import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { batchNormGradApply, batchNormGradSums, channelSums } from '../../src/kernels/batch-norm.js';
import { batchNormAffine, type ChunkSums } from '../../src/kernels/batch-norm-channels.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine } from '../helpers/gpu.js';

/** The chunks' two sums per channel added on the host: [2, C]. */
async function addChunks(sums: ChunkSums): Promise<Float64Array> {
  const [chunks, , c] = sums.partial.shape;
  const host = await sums.partial.read();
  const total = new Float64Array(2 * c);
  for (let k = 0; k < chunks; k++) for (let i = 0; i < 2 * c; i++) total[i] += host[k * 2 * c + i];
  return total;
}

describe('BatchNorm passes over the activations', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('gu (g, or g silu\'(x scale + shift)) and its per-channel sums, one chunk and many, f32 and f16', async () => {
    engine = await testEngine();
    // C 5 and 37: one channel per thread; 8 and 36: four (vec4), 2 and 9 quads (narrow layers fill the rows)
    for (const [rows, c] of [[7, 5], [1000, 37], [9, 8], [1000, 36]]) {
      for (const dtype of floatDtypes(engine)) {
        for (const [silu, layout] of [[false, 'contiguous'], [true, 'contiguous'], [false, 'permuted'], [true, 'slice']] as const) {
          const gd = asStored(randomData(rows * c, rows), dtype);
          const xd = asStored(randomData(rows * c, rows + 1, -2, 3), dtype);
          const md = randomData(c, rows + 2);
          const ad = randomData(3 * c, rows + 3, 0.5, 1.5);
          // g as a channel slice of a wider buffer (a concat's gradient), or permuted (copied first).
          const wide = new Float32Array(rows * (c + 3)).fill(1e4);
          for (let r = 0; r < rows; r++) wide.set(gd.subarray(r * c, (r + 1) * c), r * (c + 3) + 1);
          const gWide = Tensor.fromHost(engine, wide, [rows, c + 3], dtype, 'other');
          // contiguous (vec4 where C allows), a slice at channel 1 or transposed (one channel per thread)
          const g = layout === 'slice' ? gWide.slice(1, 1, 1 + c) : tensorWithLayout(engine, gd, [rows, c], dtype, layout);
          gWide.dispose();
          const x = Tensor.fromHost(engine, xd, [rows, c], dtype, 'other');
          const mean = Tensor.fromHost(engine, md, [c], 'f32', 'other');
          const affine = Tensor.fromHost(engine, ad, [3, c], 'f32', 'other');
          const gu = Tensor.empty(engine, [rows, c], dtype, 'other');
          const sums = batchNormGradSums(g, x, mean, gu, silu ? affine : null);
          const siluGrad = (u: number) => {
            const s = 1 / (1 + Math.exp(-u));
            return s * (1 + u * (1 - s));
          };
          const exact = Array.from(gd, (v, i) => (silu ? v * siluGrad(xd[i] * ad[i % c] + ad[c + (i % c)]) : v));
          expectClose(await gu.read(), asStored(Float32Array.from(exact), dtype), dtype === 'f32' ? 1e-5 : 2e-3, 1e-5);
          // The sums are of the f32 values (before an f16 gu rounds them).
          const ref = new Float64Array(2 * c);
          for (let i = 0; i < rows * c; i++) {
            ref[i % c] += exact[i];
            ref[c + (i % c)] += exact[i] * (xd[i] - md[i % c]);
          }
          try {
            expect(sums.count).toBe(rows);
            expectClose(await addChunks(sums), ref, 1e-5, 1e-4 * Math.sqrt(rows));
          } catch (e) {
            throw new Error(`${rows}x${c} ${dtype} silu ${silu} ${layout}: ${(e as Error).message}`);
          }
          for (const t of [g, x, mean, affine, gu, sums.partial]) t.dispose();
        }
      }
    }
  });

  it('applies dx = gu a + x b + d in place, gu in f32 and f16, one channel per thread or four', async () => {
    engine = await testEngine();
    for (const [rows, c] of [[13, 6], [13, 12]]) for (const dtype of floatDtypes(engine)) {
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

  it('channel sums finished by batchNormAffine: mean and variance per channel against float64, one chunk and many, vec4 and scalar, far from zero', async () => {
    engine = await testEngine();
    // [rows, C, offset of the data, spread]: C 5 one channel per thread; 36, 8 four; 1000.5 +- 0.05 tests the shift;
    // 60000 x 20: 117 chunks, several per finishing thread, and a partial second group of channels
    for (const [rows, c, center, spread] of [[7, 5, 0, 2], [3000, 36, 0, 2], [9, 8, 3, 1], [2000, 12, 1000, 0.05], [60000, 20, 0, 2]]) {
      for (const dtype of floatDtypes(engine)) {
        if (dtype === 'f16' && center > 100) continue; // f16 cannot hold 1000 +- 0.05
        const data = asStored(randomData(rows * c, rows + c, center - spread, center + spread), dtype);
        const x = Tensor.fromHost(engine, data, [rows, c], dtype, 'other');
        const { sums, shift } = channelSums(x);
        // gamma 1, beta 0, momentum 1: the running statistics become the batch's (the variance unbiased)
        const [ones, zeros, runMean, runVar] = [1, 0, 0, 0].map((v) => Tensor.fromHost(engine, new Float32Array(c).fill(v), [c], 'f32', 'other'));
        const affine = batchNormAffine({ sums, shift }, ones, zeros, 1e-3, { mean: runMean, variance: runVar, momentum: 1, count: rows });
        const m = new Float64Array(c);
        const v = new Float64Array(c);
        for (let i = 0; i < data.length; i++) m[i % c] += data[i] / rows;
        for (let i = 0; i < data.length; i++) v[i % c] += (data[i] - m[i % c]) ** 2 / rows;
        const rowsOut = await affine.read();
        const row = (i: number) => rowsOut.subarray(i * c, (i + 1) * c);
        try {
          expectClose(row(3), m, 1e-6, 1e-6 * (1 + center));
          expectClose(await runMean.read(), m, 1e-6, 1e-6 * (1 + center));
          expectClose(await runVar.read(), Array.from(v, (x) => (x * rows) / (rows - 1)), 1e-4, 1e-6 * spread * spread);
          expectClose(row(2), Array.from(v, (x) => 1 / Math.sqrt(x + 1e-3)), 1e-4, 1e-6);
        } catch (e) {
          throw new Error(`${rows}x${c} ${dtype} around ${center}: ${(e as Error).message}`);
        }
        for (const t of [x, sums.partial, shift, ones, zeros, runMean, runVar, affine]) t.dispose();
      }
    }
  });
});
