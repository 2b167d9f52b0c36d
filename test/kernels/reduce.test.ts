import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { argmax, argmin, moments, reduce, type ReduceOp } from '../../src/kernels/reduce.js';
import { ARGMAX, ARGMIN, MAX, MEAN, MIN, reduceCpu, SUM, VARIANCE } from '../../src/kernels/reduce.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { expectInPoisoned, poisonAhead } from '../helpers/k1-poison.js';

const CPU: Record<ReduceOp, (v: number[]) => number> = { sum: SUM, mean: MEAN, max: MAX, min: MIN };
const OPS = Object.keys(CPU) as ReduceOp[];
const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const keptShape = (shape: number[], axes: number[], keepDims: boolean) =>
  keepDims ? shape.map((d, a) => (axes.includes(a) ? 1 : d)) : shape.filter((_, a) => !axes.includes(a));
const bitsOf = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(await t.read()).buffer));

describe('reductions', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('sum, mean, max, min over axis sets {0}, {last}, {0,1,2}, {1,3}, all; every layout, dtype, keepDims', async () => {
    engine = await testEngine();
    const shape = [3, 5, 4, 7];
    const axisSets = [[0], [3], [0, 1, 2], [1, 3], [0, 1, 2, 3]];
    for (const dtype of floatDtypes(engine)) {
      for (const [i, axes] of axisSets.entries()) {
        const data = asStored(randomData(size(shape), i, -2, 2), dtype);
        const views = LAYOUTS.map((layout) => tensorWithLayout(engine, data, shape, dtype, layout));
        for (const [l, x] of views.entries()) {
          for (const [k, op] of OPS.entries()) {
            const keepDims = (i + k + l) % 2 === 0;
            const region = poisonAhead(engine, 4096);
            const y = reduce(op, x, axes, { keepDims });
            expectInPoisoned(region, y);
            const ref = reduceCpu(hostTensor(shape, data), axes, CPU[op]);
            expect(y.shape).toEqual(keptShape(shape, axes, keepDims));
            expect(y.dtype).toBe(dtype);
            const t = dtype === 'f16' ? 1e-3 : 1e-5;
            expectClose(await y.read(), asStored(Float32Array.from(ref.data), dtype), t, t);
            y.dispose();
          }
        }
        for (const v of views) v.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('argmax / argmin over one axis with first-index ties, every layout and dtype', async () => {
    engine = await testEngine();
    const shape = [4, 6, 9];
    for (const dtype of floatDtypes(engine)) {
      for (const [axis, layout] of [[0, 'permuted'], [1, 'sliced'], [2, 'contiguous'], [-1, 'permuted']] as [number, Layout][]) {
        // Few distinct values: many ties.
        const data = asStored(Float32Array.from(randomData(size(shape), 20 + axis), (v) => Math.round(v * 3) / 4), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const a = ((axis % 3) + 3) % 3;
        for (const [fn, ref] of [[argmax, ARGMAX], [argmin, ARGMIN]] as const) {
          const region = poisonAhead(engine, 1024);
          const y = fn(x, axis, { keepDims: axis === 1 });
          expectInPoisoned(region, y);
          expect(y.dtype).toBe('i32');
          expect(y.shape).toEqual(keptShape(shape, [a], axis === 1));
          expect(Array.from(await y.read())).toEqual(Array.from(reduceCpu(hostTensor(shape, data), [a], ref).data));
          y.dispose();
        }
        x.dispose();
      }
    }
  });

  it('moments: mean and biased variance for BatchNorm statistics of NHWC, stable for large means', async () => {
    engine = await testEngine();
    const shape = [2, 5, 7, 6];
    for (const dtype of floatDtypes(engine)) {
      for (const [axes, layout] of [[[0, 1, 2], 'sliced'], [[0, 1, 2], 'permuted'], [[3], 'contiguous'], [[0, 1, 2, 3], 'contiguous']] as [number[], Layout][]) {
        // Per-channel offset 100 with spread ~1: a naive sum-of-squares would lose the variance.
        const data = asStored(Float32Array.from(randomData(size(shape), 30), (v, i) => 100 + (i % 6) + v), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const region = poisonAhead(engine, 8192);
        const { mean, variance } = moments(x, axes);
        expectInPoisoned(region, mean, variance);
        expect(mean.dtype).toBe('f32');
        const host = hostTensor(shape, data);
        expectClose(await mean.read(), reduceCpu(host, axes, MEAN).data, 1e-6);
        expectClose(await variance.read(), reduceCpu(host, axes, VARIANCE).data, 2e-4);
        for (const t of [x, mean, variance]) t.dispose();
      }
    }
  });

  it('splits long runs into chunks (two passes): BatchNorm-sized columns and rows, bitwise repeatable', async () => {
    engine = await testEngine();
    // rows = 4*33*35 = 4620 per channel: the column kernel splits them into chunks.
    const shape = [4, 33, 35, 24];
    const data = randomData(size(shape), 40, -3, 5);
    const host = hostTensor(shape, data);
    const x = tensorWithLayout(engine, data, shape, 'f32', 'sliced');
    const cases: [string, () => Tensor[], number[][]][] = [
      ['moments', () => Object.values(moments(x, [0, 1, 2])), [reduceCpu(host, [0, 1, 2], MEAN).data, reduceCpu(host, [0, 1, 2], VARIANCE).data].map((d) => Array.from(d))],
      ['sum nhw', () => [reduce('sum', x, [0, 1, 2])], [Array.from(reduceCpu(host, [0, 1, 2], SUM).data)]],
      ['max hwc', () => [reduce('max', x, [1, 2, 3])], [Array.from(reduceCpu(host, [1, 2, 3], MAX).data)]],
      ['argmax h', () => [argmax(x, 1)], [Array.from(reduceCpu(host, [1], ARGMAX).data)]],
    ];
    for (const [name, run, refs] of cases) {
      const first = run();
      const again = run();
      for (const [k, t] of first.entries()) {
        const got = await t.read();
        if (name === 'argmax h') expect(Array.from(got)).toEqual(refs[k]);
        else expectClose(got, refs[k], 1e-5, 1e-4);
        expect(await bitsOf(again[k]), `${name} bitwise`).toEqual(await bitsOf(t));
      }
      for (const t of [...first, ...again]) t.dispose();
    }
    x.dispose();
    expect(engine.stats().live.workspace).toBe(0);
  });

  it('sums ~1M elements within 1e-5 of float64, bitwise repeatable; f16 inputs accumulate in f32', async () => {
    engine = await testEngine();
    const n = 1021 * 1027;
    const data = randomData(n, 11, -1, 1.2);
    const x = Tensor.fromHost(engine, data, [n], 'f32', 'other');
    const ref = SUM(Array.from(data));
    const a = reduce('sum', x);
    const b = reduce('sum', x);
    const x2 = x.reshape([1021, 1027]);
    const m = reduce('mean', x2);
    const [va] = await a.read();
    expect(Math.abs(va - ref) / Math.abs(ref)).toBeLessThan(1e-5);
    expect(await bitsOf(b)).toEqual(await bitsOf(a));
    expect(Math.abs((await m.read())[0] - ref / n) / Math.abs(ref / n)).toBeLessThan(1e-5);
    for (const t of [x, x2, a, b, m]) t.dispose();
    if (engine.features.shaderF16) {
      // 6000 ones: an f16 accumulator would stop at 2048.
      const h = Tensor.fromHost(engine, new Float32Array(6000).fill(1), [3, 2000], 'f16', 'other');
      const s = reduce('sum', h, undefined, { outDtype: 'f32' });
      expect(Array.from(await s.read())).toEqual([6000]);
      const rows = reduce('sum', h, [1]);
      expect(Array.from(await rows.read())).toEqual([2000, 2000, 2000]);
      for (const t of [h, s, rows]) t.dispose();
    }
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('handles infinities, scalars and rejects bad axes; allocates the same in meta mode', async () => {
    engine = await testEngine();
    const x = Tensor.fromHost(engine, [-Infinity, -Infinity, 3, Infinity], [2, 2], 'f32', 'other');
    const mx = reduce('max', x, [1]);
    expect(Array.from(await mx.read())).toEqual([-Infinity, Infinity]);
    const am = argmax(x, 1);
    expect(Array.from(await am.read())).toEqual([0, 1]);
    const all = reduce('sum', x, [], { keepDims: true });
    expect(Array.from(await all.read())).toEqual([-Infinity, -Infinity, 3, Infinity]);
    expect(() => reduce('sum', x, [2])).toThrow(/sum: axes \[2\] out of range for shape \[2,2\]/);
    expect(() => argmax(Tensor.empty(engine, [3, 0], 'f32', 'other'), 1)).toThrow(/argmax: axis 1 of shape \[3,0\] is empty/);
    for (const t of [x, mx, am, all]) t.dispose();

    const meta = Engine.meta();
    const big = Tensor.empty(meta, [16, 80, 80, 64], 'f16', 'activations');
    const { mean, variance } = moments(big, [0, 1, 2], { category: 'other' });
    expect(mean.shape).toEqual([64]);
    expect(meta.stats().live.other).toBeGreaterThan(0);
    // The chunk workspace was allocated and released again.
    expect(meta.stats().live.workspace).toBe(0);
    expect(meta.stats().peakBytes).toBeGreaterThan(meta.stats().liveBytes);
    for (const t of [big, mean, variance]) t.dispose();
  });
});
