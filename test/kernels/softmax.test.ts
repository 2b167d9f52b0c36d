import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import type { DType } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { logSoftmax, softmax, softmaxBackward, threadsPerRow } from '../../src/kernels/softmax.js';
import { softmaxBackwardCpu, softmaxCpu } from '../../src/kernels/softmax.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { bits, channelSlice, expectUntouchedOutside, filled } from '../helpers/k4-checks.js';

const tolerance = (dtype: DType) => (dtype === 'f16' ? 1e-3 : 1e-5);

describe('softmax', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('softmax and log-softmax over each axis of views, f32 and f16, into poisoned outputs', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [3, 4, 37];
    let seed = 0;
    for (const dtype of floatDtypes(engine)) {
      for (const axis of [0, 1, 2, -1]) {
        for (const log of [false, true]) {
          const layout: Layout = (['contiguous', 'sliced', 'permuted'] as Layout[])[seed % 3];
          const data = asStored(randomData(444, seed++, -8, 8), dtype);
          const x = tensorWithLayout(engine, data, shape, dtype, layout);
          const out = filled(engine, shape, dtype);
          const ret = softmax(x, axis, { log, out });
          expect(ret).toBe(out);
          const ref = softmaxCpu(hostTensor(shape, data), (axis + 3) % 3, log);
          expectClose(await out.read(), ref.data, tolerance(dtype), tolerance(dtype));
          for (const t of [x, out]) t.dispose();
        }
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('covers every row regime (1 to 256 threads per row), ragged row counts, long attention rows, large logits', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const cases: [number, number][] = [[5, 300], [16, 259], [33, 37], [300, 9], [1601, 3], [6400, 2]];
    expect(cases.map(([len]) => threadsPerRow(len))).toEqual([1, 1, 8, 64, 256, 256]);
    let seed = 100;
    for (const [len, rows] of cases) {
      const data = randomData(len * rows, seed++, -6, 6);
      data[len >> 1] = 1000; // a huge logit: must not overflow
      for (let j = 0; j < len; j++) data[len * (rows - 1) + j] = -1e4 - j / len; // a row of very negative logits
      const shape = [rows, len];
      const x = tensorWithLayout(engine, data, shape, 'f32', seed % 2 ? 'sliced' : 'contiguous');
      for (const log of [false, true]) {
        const y = softmax(x, 1, { log });
        const got = await y.read();
        expect(got.every(Number.isFinite), `len ${len}`).toBe(true);
        expectClose(got, softmaxCpu(hostTensor(shape, data), 1, log).data, 1e-5, 1e-6);
        y.dispose();
      }
      x.dispose();
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('reads an axis that is not the last (strided rows) and writes f32 log-probabilities of f16 logits into a channel slice', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [2, 300, 5];
    const data = asStored(randomData(3000, 7, -4, 4), engine.features.shaderF16 ? 'f16' : 'f32');
    const x = tensorWithLayout(engine, data, shape, engine.features.shaderF16 ? 'f16' : 'f32', 'sliced');
    const { buffer, slice } = channelSlice(engine, shape, 'f32', 1, 2);
    logSoftmax(x, 1, { out: slice });
    expectClose(await slice.read(), softmaxCpu(hostTensor(shape, data), 1, true).data, 1e-5, 1e-5);
    expectUntouchedOutside(await buffer.read(), 8, 1, 5);
    const y = softmax(x, 1, { dtype: 'f32' });
    expect(y.dtype).toBe('f32');
    expectClose(await y.read(), softmaxCpu(hostTensor(shape, data), 1).data, 1e-5, 1e-6);
    for (const t of [x, buffer, slice, y]) t.dispose();
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('backward of softmax and log-softmax matches the CPU reference, bitwise reproducibly', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    let seed = 200;
    for (const dtype of floatDtypes(engine)) {
      for (const [shape, axis] of [[[3, 7, 11], 1], [[2, 1601], 1], [[40, 3, 2], 0]] as [number[], number][]) {
        for (const log of [false, true]) {
          const size = shape.reduce((a, b) => a * b);
          const logits = randomData(size, seed++, -5, 5);
          const yData = asStored(Float32Array.from(softmaxCpu(hostTensor(shape, logits), axis, log).data), dtype);
          const gData = asStored(randomData(size, seed++, -1, 1), dtype);
          const y = tensorWithLayout(engine, yData, shape, dtype, 'permuted');
          const g = tensorWithLayout(engine, gData, shape, dtype, 'sliced');
          const dx = softmaxBackward(y, g, axis, { log });
          const again = softmaxBackward(y, g, axis, { log });
          const ref = softmaxBackwardCpu(hostTensor(shape, yData), hostTensor(shape, gData), axis, log);
          const got = await dx.read();
          const tol = dtype === 'f16' ? 3e-3 : 1e-5;
          expectClose(got, ref.data, tol, tol);
          expect(bits(await again.read())).toEqual(bits(got));
          for (const t of [y, g, dx, again]) t.dispose();
        }
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('is bitwise reproducible on long rows', async () => {
    engine = await testEngine();
    const x = Tensor.fromHost(engine, randomData(3 * 4000, 9, -10, 10), [3, 4000], 'f32', 'other');
    const a = softmax(x, 1);
    const b = softmax(x, 1);
    expect(bits(await b.read())).toEqual(bits(await a.read()));
    for (const t of [x, a, b]) t.dispose();
  });

  it('validates its arguments and allocates only its output, identically in meta mode', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const x = Tensor.empty(engine, [2, 3], 'f32', 'other');
    const i = Tensor.empty(engine, [2, 3], 'i32', 'other');
    expect(() => softmax(x, 2)).toThrow(/softmax: axis 2 out of range for \[2,3\]/);
    expect(() => softmax(i, 0)).toThrow(/softmax: input must be f32 or f16, got i32/);
    expect(() => logSoftmax(x, 0, { dtype: 'i32' })).toThrow(/logSoftmax: dtype must be f32 or f16/);
    expect(() => softmax(x, 0, { out: i })).toThrow(/softmax: out must be f32 or f16/);
    const t32 = x.reshape([3, 2]);
    expect(() => softmaxBackward(x, t32, 0)).toThrow(/softmaxBackward: gradY has shape \[3,2\], y has \[2,3\]/);
    for (const t of [x, i, t32]) t.dispose();
    expect(engine.stats().liveBytes).toBe(live);
    const meta = Engine.meta();
    const m = Tensor.empty(meta, [8, 400, 400], 'f16', 'other');
    const before = meta.stats().liveBytes;
    const y = softmax(m, -1, { dtype: 'f32' });
    expect(meta.stats().liveBytes - before).toBe(8 * 400 * 400 * 4);
    const g = Tensor.empty(meta, [8, 400, 400], 'f32', 'other');
    const dx = softmaxBackward(y, g, -1);
    expect(dx.dtype).toBe('f32');
    for (const t of [y, g, dx, m]) t.dispose();
    expect(meta.stats().liveBytes).toBe(0);
  });
});
