import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import { permute, reshape } from '../../src/autograd/view-ops.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor, multiIndex, linearIndex, type HostTensor } from '../../src/kernels/host-tensor.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomData, testEngine } from '../helpers/gpu.js';

/** Axis permutation in float64. */
function permuteCpu(x: HostTensor, axes: number[]): HostTensor {
  const shape = axes.map((a) => x.shape[a]);
  const out = hostTensor(shape);
  out.data.forEach((_, i) => {
    const idx = multiIndex(shape, i);
    const src = new Array<number>(axes.length);
    axes.forEach((a, k) => (src[a] = idx[k]));
    out.data[i] = x.data[linearIndex(x.shape, src)];
  });
  return out;
}

describe('reshape and permute rules', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('permute (a view) and its inverse permutation in backward', async () => {
    engine = await testEngine();
    await gradcheck(engine, (x) => permute(x, [2, 0, 3, 1]), (x) => permuteCpu(x, [2, 0, 3, 1]), [[2, 3, 5, 4]], 1);
  });

  it('reshape of a permuted (non-contiguous) value copies; of a contiguous one it is a view', async () => {
    engine = await testEngine();
    await gradcheck(engine, (x) => reshape(permute(x, [1, 0, 2]), [3, -1]), (x) => hostTensor([3, 14], permuteCpu(x, [1, 0, 2]).data), [[2, 3, 7]], 2);
    const x = new Var(Tensor.fromHost(engine, randomData(30, 3), [5, 6], 'f32', 'input'), true);
    const y = reshape(x, [2, 3, 5]);
    expect(y.data.storage).toBe(x.data.storage);
    expect(y.shape).toEqual([2, 3, 5]);
    // The gradient of a permuted-then-reshaped value comes back in x's shape and order.
    const p = reshape(permute(x, [1, 0]), [30]);
    backward(p, Tensor.fromHost(engine, Float32Array.from({ length: 30 }, (_, i) => i), [30], 'f32', 'other'));
    const g = await x.grad!.read();
    // p[j * 5 + i] = x[i, j], so dx[i, j] = j * 5 + i.
    expect(Array.from(g.subarray(0, 6))).toEqual([0, 5, 10, 15, 20, 25]);
    for (const v of [x, y, p]) v.dispose();
  });
});
