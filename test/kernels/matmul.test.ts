import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { matmul, matmulPath } from '../../src/kernels/matmul.js';
import { matmulCpu } from '../../src/kernels/matmul.cpu.js';
import { fill } from '../../src/kernels/copy.js';
import { asStored, expectClose, floatDtypes, randomData, relL2, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

describe('matmul', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  async function check(shapeA: number[], shapeB: number[], dtype: DType, layout: Layout, options: { transposeA?: boolean; transposeB?: boolean; bias?: boolean }, seed: number) {
    const da = asStored(randomData(shapeA.reduce((x, y) => x * y), seed), dtype);
    const db = asStored(randomData(shapeB.reduce((x, y) => x * y), seed + 1), dtype);
    const a = tensorWithLayout(engine, da, shapeA, dtype, layout);
    const b = tensorWithLayout(engine, db, shapeB, dtype, layout);
    const biasData = randomData(options.transposeB ? shapeB[shapeB.length - 2] : shapeB[shapeB.length - 1], seed + 2);
    const bias = options.bias ? Tensor.fromHost(engine, biasData, [biasData.length], 'f32', 'other') : undefined;
    const out = matmul(a, b, { transposeA: options.transposeA, transposeB: options.transposeB, bias, outDtype: 'f32' });
    const expected = matmulCpu(hostTensor(shapeA, da), hostTensor(shapeB, db), { ...options, bias: options.bias ? biasData : undefined });
    expect(out.shape).toEqual(expected.shape);
    const got = await out.read();
    expectClose(got, expected.data, dtype === 'f16' ? 2e-3 : 1e-5, dtype === 'f16' ? 2e-3 : 1e-5);
    for (const t of [a, b, out, ...(bias ? [bias] : [])]) t.dispose();
  }

  it('matches the CPU reference on odd sizes, transposes, layouts and dtypes', async () => {
    engine = await testEngine();
    // Each distinct tile shape / layout compiles its own pipeline (slow on a CPU driver): keep the set small.
    let seed = 1;
    for (const [m, n, k] of [[1, 1, 1], [7, 33, 65], [130, 65, 129]]) await check([m, k], [k, n], 'f32', 'contiguous', {}, seed++);
    for (const layout of ['sliced', 'permuted'] as Layout[]) await check([33, 65], [65, 30], 'f32', layout, {}, seed++);
    await check([65, 33], [30, 65], 'f32', 'contiguous', { transposeA: true, transposeB: true, bias: true }, seed++);
    if (floatDtypes(engine).includes('f16')) {
      await check([33, 65], [65, 30], 'f16', 'contiguous', {}, seed++);
      await check([65, 33], [30, 65], 'f16', 'sliced', { transposeA: true, transposeB: true, bias: true }, seed++);
    }
  });

  it('batches, with a rank-2 operand broadcast over the batch', async () => {
    engine = await testEngine();
    await check([3, 17, 9], [3, 9, 21], 'f32', 'contiguous', {}, 50);
    await check([3, 17, 9], [9, 21], 'f32', 'sliced', { bias: true }, 51);
    await check([17, 9], [3, 21, 9], 'f32', 'permuted', { transposeB: true }, 52);
  });

  it('accumulates into an existing output view with alpha and beta', async () => {
    engine = await testEngine();
    const da = randomData(5 * 6, 60);
    const db = randomData(6 * 4, 61);
    const a = Tensor.fromHost(engine, da, [5, 6], 'f32', 'other');
    const b = Tensor.fromHost(engine, db, [6, 4], 'f32', 'other');
    const base = Tensor.empty(engine, [5, 9], 'f32', 'other');
    fill(base, 0.5);
    const window = base.slice(1, 2, 6);
    matmul(a, b, { out: window, alpha: 2, beta: 3 });
    const ref = matmulCpu(hostTensor([5, 6], da), hostTensor([6, 4], db));
    const got = await base.read();
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 9; j++) {
        const expected = j >= 2 && j < 6 ? 2 * ref.data[i * 4 + j - 2] + 1.5 : 0.5;
        expect(Math.abs(got[i * 9 + j] - expected)).toBeLessThan(1e-5);
      }
    }
    for (const t of [a, b, base, window]) t.dispose();
  });

  it('is deterministic and takes the SIMT path without subgroup matrices', async () => {
    engine = await testEngine();
    if (!engine.features.subgroupMatrix) expect(matmulPath(engine, 'f16', 'f16')).toBe('simt');
    const a = Tensor.fromHost(engine, randomData(64 * 200, 70), [64, 200], 'f32', 'other');
    const b = Tensor.fromHost(engine, randomData(200 * 48, 71), [200, 48], 'f32', 'other');
    const x = matmul(a, b);
    const y = matmul(a, b);
    expect(relL2(await x.read(), await y.read())).toBe(0);
    for (const t of [a, b, x, y]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
