import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { batchNormAffine, batchNormGradCoefs } from '../../src/kernels/batch-norm-channels.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';

/** Vectors of `c` channels as slices of one storage (as parameters of one arena segment are), poison around them. */
function packed(engine: Engine, vectors: Float32Array[], c: number): { whole: Tensor; views: Tensor[] } {
  const host = new Float32Array(vectors.length * (c + 3)).fill(1e6);
  vectors.forEach((v, i) => host.set(v, i * (c + 3) + 2));
  const whole = Tensor.fromHost(engine, host, [host.length], 'f32', 'params');
  return { whole, views: vectors.map((_, i) => whole.slice(0, i * (c + 3) + 2, i * (c + 3) + 2 + c)) };
}

describe('BatchNorm per-channel kernels', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('affine rows (scale, shift, invstd, mean) and the running-statistics update, from given statistics or chunk sums, views sharing storages', async () => {
    engine = await testEngine();
    const c = 37;
    const [mean, variance, gamma, beta, rm, rv] = [1, 2, 3, 4, 5, 6].map((s) => randomData(c, s, s === 2 || s === 6 ? 0.1 : -1, s === 2 || s === 6 ? 2 : 1));
    const [eps, momentum, count] = [1e-3, 0.03, 50];
    // Chunk sums of x - s and (x - s)^2 that give this mean and variance: chunk k holds a share of each total.
    const origin = randomData(c, 7);
    const shares = [0.5, 0.2, 0.3];
    const totals = [...Array.from(mean, (m, i) => (m - origin[i]) * count), ...Array.from(mean, (m, i) => (variance[i] + (m - origin[i]) ** 2) * count)];
    const partialData = Float32Array.from(shares.flatMap((f) => totals.map((t) => t * f)));
    for (const [withRunning, fromSums] of [[false, false], [true, false], [false, true], [true, true]]) {
      const stats = packed(engine, [mean, variance, origin], c);
      const params = packed(engine, [gamma, beta, rm, rv], c);
      const [m, v, s] = stats.views;
      const [g, b, runMean, runVar] = params.views;
      const partial = Tensor.fromHost(engine, partialData, [shares.length, 2, c], 'f32', 'activations');
      const given = fromSums ? { sums: { partial, count }, shift: s } : { mean: m, variance: v };
      const affine = batchNormAffine(given, g, b, eps, withRunning ? { mean: runMean, variance: runVar, momentum, count } : null);
      const invstd = Array.from(variance, (x) => 1 / Math.sqrt(x + eps));
      const scale = invstd.map((s, i) => gamma[i] * s);
      const tol = fromSums ? 1e-4 : 1e-6; // the variance from sums of squares loses a few digits
      expectClose(await affine.read(), [...scale, ...scale.map((s, i) => beta[i] - mean[i] * s), ...invstd, ...mean], tol, tol);
      const after = await params.whole.read();
      const run = (i: number) => after.subarray(i * (c + 3) + 2, i * (c + 3) + 2 + c);
      expectClose(run(2), withRunning ? Array.from(rm, (x, i) => 0.97 * x + 0.03 * mean[i]) : rm, tol, tol);
      expectClose(run(3), withRunning ? Array.from(rv, (x, i) => 0.97 * x + ((0.03 * count) / (count - 1)) * variance[i]) : rv, tol, tol);
      expect(after.filter((x) => x === 1e6).length).toBe(4 * 3); // the poison around the views is untouched
      for (const t of [affine, partial, stats.whole, params.whole, ...stats.views, ...params.views]) t.dispose();
    }
  });

  it('gradient coefficients in training and eval, with and without dgamma and dbeta, the chunk sums added in a fixed order', async () => {
    engine = await testEngine();
    // 21 channels: a partial second workgroup of channels; 40 chunks: several per adding thread
    const [c, chunks] = [21, 40];
    const partialData = randomData(chunks * 2 * c, 6);
    const [sumGu, sumGuX] = [0, 1].map((j) => Array.from({ length: c }, (_, i) => partialData.reduce((a, x, at) => (Math.floor(at / c) % 2 === j && at % c === i ? a + x : a), 0)));
    const [scale, shift, invstd, mean] = [9, 10, 11, 12].map((s) => randomData(c, s));
    const count = 96;
    const partial = Tensor.fromHost(engine, partialData, [chunks, 2, c], 'f32', 'activations');
    const affine = Tensor.fromHost(engine, Float32Array.from([...scale, ...shift, ...invstd, ...mean]), [4, c], 'f32', 'activations');
    for (const training of [true, false]) {
      for (const withDgamma of [true, false]) {
        const { coef, dgamma, dbeta } = batchNormGradCoefs({ partial, count }, affine, training, { dgamma: withDgamma, dbeta: !withDgamma });
        const k = Array.from(scale, (s, i) => (training ? (-s * invstd[i] * invstd[i] * sumGuX[i]) / count : 0));
        const d = Array.from(scale, (s, i) => (training ? (-s * sumGu[i]) / count - k[i] * mean[i] : 0));
        expectClose(await coef.read(), [...scale, ...k, ...d], 1e-5, 1e-6);
        expect(dgamma === null).toBe(!withDgamma);
        if (dgamma) expectClose(await dgamma.read(), Array.from(sumGuX, (x, i) => x * invstd[i]), 1e-5, 1e-6);
        expect(dbeta === null).toBe(withDgamma);
        if (dbeta) expectClose(await dbeta.read(), sumGu, 1e-5, 1e-6);
        for (const t of [coef, dgamma, dbeta]) t?.dispose();
      }
    }
    for (const t of [partial, affine]) t.dispose();
  });
});
