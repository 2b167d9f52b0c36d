import { afterAll, describe, expect, it } from 'vitest';
import { bceWithLogits, crossEntropy } from '../../src/autograd/loss-ops.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { HostTensor } from '../../src/kernels/host-tensor.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';

/** torch's BCEWithLogits in float64, log1p taken literally. */
function bceCpu(x: HostTensor, t: ArrayLike<number>): HostTensor {
  return { shape: x.shape, data: x.data.map((v, i) => Math.max(v, 0) - v * t[i] + Math.log1p(Math.exp(-Math.abs(v)))) };
}

/** -sum(t log softmax(x)) over the last axis (kept with size 1). */
function crossEntropyCpu(x: HostTensor, t: ArrayLike<number>): HostTensor {
  const k = x.shape[x.shape.length - 1];
  const rows = x.data.length / k;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.data.subarray(r * k, (r + 1) * k));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    out[r] = row.reduce((s, v, i) => s - t[r * k + i] * (v - lse), 0);
  }
  return { shape: [...x.shape.slice(0, -1), 1], data: out };
}

/** Random rows of probabilities summing to 1 (soft targets). */
function distributions(rows: number, k: number, seed: number): Float32Array {
  const t = randomData(rows * k, seed, 0, 1);
  for (let r = 0; r < rows; r++) {
    const s = t.subarray(r * k, (r + 1) * k).reduce((a, b) => a + b, 0);
    for (let i = 0; i < k; i++) t[r * k + i] /= s;
  }
  return t;
}

describe('loss ops', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('bceWithLogits matches torch in float64, also for large |logits| where log(1 + e) loses e', async () => {
    engine = await testEngine();
    const x = Float32Array.from([-30, -17, -11.5, -3, -1e-4, 0, 2e-3, 0.7, 9, 25, 88]);
    const t = Float32Array.from([0, 0.3, 0, 1, 0.5, 0.2, 1, 0, 0.9, 1, 0]);
    const out = noGrad(() => bceWithLogits(new Var(Tensor.fromHost(engine, x, [11], 'f32', 'other')), Tensor.fromHost(engine, t, [11], 'f32', 'other')));
    const expected = bceCpu({ shape: [11], data: Float64Array.from(x) }, t).data;
    expectClose(await out.data.read(), expected, 2e-6, 1e-30);
    expect(expected[0]).toBeGreaterThan(0); // e^-30 survives: the check above is relative
  });

  it('bceWithLogits gradient matches finite differences', async () => {
    engine = await testEngine();
    const shape = [3, 7, 5];
    const t = randomData(105, 7, 0, 1);
    const target = Tensor.fromHost(engine, t, shape, 'f32', 'other');
    await gradcheck(engine, (x) => bceWithLogits(x, target), (x) => bceCpu(x, t), [shape], 11);
    target.dispose();
  });

  it('crossEntropy against soft targets: values and gradient (DFL shape: rows of 16 bins)', async () => {
    engine = await testEngine();
    const shape = [5, 4, 16];
    const t = distributions(20, 16, 3);
    const target = Tensor.fromHost(engine, t, shape, 'f32', 'other');
    const x = randomData(320, 4, -3, 3);
    const out = noGrad(() => crossEntropy(new Var(Tensor.fromHost(engine, x, shape, 'f32', 'other')), target));
    expect(out.shape).toEqual([5, 4, 1]);
    expectClose(await out.data.read(), crossEntropyCpu({ shape, data: Float64Array.from(x) }, t).data, 1e-5);
    await gradcheck(engine, (v) => crossEntropy(v, target), (v) => crossEntropyCpu(v, t), [shape], 21);
    target.dispose();
  });
});
