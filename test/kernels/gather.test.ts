import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import type { DType } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { gather, indexSelect, missingValue } from '../../src/kernels/gather.js';
import { gatherCpu, indexSelectCpu } from '../../src/kernels/gather.cpu.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { bits, filled } from '../helpers/k4-checks.js';

/** Random indices in [0, size) with a few out of range (size, size + 7, -1, -100). */
function indices(n: number, size: number, seed: number): number[] {
  const idx = Array.from(randomData(n, seed, 0, 1), (v) => Math.floor(v * size));
  [size, -1, size + 7, -100].forEach((bad, k) => (idx[(k * 7 + 3) % n] = bad));
  return idx;
}

/** Test data in a dtype: f16-rounded floats, or integers for i32. */
function dataFor(dtype: DType, n: number, seed: number): Float32Array {
  const data = randomData(n, seed, -50, 50);
  return dtype === 'i32' ? data.map(Math.round) : asStored(data, dtype);
}

describe('gather / indexSelect', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('gathers along each axis of views like torch.gather, out-of-range indices give NaN / -1, into poisoned outputs', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [4, 5, 6];
    const ishape = [3, 4, 5];
    let seed = 0;
    for (const dtype of [...floatDtypes(engine), 'i32'] as DType[]) {
      for (const axis of [0, 1, 2, -1]) {
        const ax = (axis + 3) % 3;
        const layouts: Layout[] = ['permuted', 'sliced', 'contiguous'];
        const data = dataFor(dtype, 120, seed++);
        const x = tensorWithLayout(engine, data, shape, dtype, layouts[seed % 3]);
        const idx = indices(60, shape[ax], seed++);
        const index = tensorWithLayout(engine, Float32Array.from(idx), ishape, 'i32', layouts[(seed + 1) % 3]);
        const out = filled(engine, ishape, dtype, 12345);
        const ret = gather(x, axis, index, { out });
        expect(ret).toBe(out);
        const again = gather(x, axis, index);
        const ref = gatherCpu(hostTensor(shape, data), ax, hostTensor(ishape, idx), missingValue(dtype));
        const got = await out.read();
        expectClose(got, ref.data, 0, 0);
        expect(bits(await again.read())).toEqual(bits(got));
        for (const t of [x, index, out, again]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('gathers with an index smaller than x off the axis, and casts f16 data into an f32 out', async () => {
    engine = await testEngine();
    const dtype: DType = engine.features.shaderF16 ? 'f16' : 'f32';
    const data = dataFor(dtype, 7 * 9, 3);
    const x = tensorWithLayout(engine, data, [7, 9], dtype, 'sliced');
    const idx = indices(2 * 11, 7, 4);
    const index = Tensor.fromHost(engine, idx, [11, 2], 'i32', 'other');
    const out = filled(engine, [11, 2], 'f32', 12345);
    gather(x, 0, index, { out });
    expectClose(await out.read(), gatherCpu(hostTensor([7, 9], data), 0, hostTensor([11, 2], idx)).data, 0, 0);
    for (const t of [x, index, out]) t.dispose();
  });

  it('indexSelect picks positions along an axis through a strided index view', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [4, 5, 6];
    let seed = 50;
    for (const dtype of [...floatDtypes(engine), 'i32'] as DType[]) {
      for (const axis of [0, 2]) {
        const data = dataFor(dtype, 120, seed++);
        const x = tensorWithLayout(engine, data, shape, dtype, 'permuted');
        const stored = indices(14, shape[axis], seed++);
        const base = Tensor.fromHost(engine, stored, [14], 'i32', 'other');
        const index = base.slice(0, 1, 14, 2); // every other entry: stride 2, offset 1
        const picked = stored.filter((_, k) => k % 2 === 1);
        const y = indexSelect(x, axis, index);
        expect(y.shape).toEqual(shape.map((d, k) => (k === axis ? 7 : d)));
        expectClose(await y.read(), indexSelectCpu(hostTensor(shape, data), axis, picked, missingValue(dtype)).data, 0, 0);
        for (const t of [x, base, index, y]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('validates its arguments and allocates only its output, identically in meta mode', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const x = Tensor.empty(engine, [4, 5], 'f32', 'other');
    const f = Tensor.empty(engine, [2, 5], 'f32', 'other');
    const wide = Tensor.empty(engine, [2, 6], 'i32', 'other');
    const flat = Tensor.empty(engine, [3], 'i32', 'other');
    expect(() => gather(x, 0, f)).toThrow(/gather: index must be i32, got f32/);
    expect(() => gather(x, 0, wide)).toThrow(/gather: index \[2,6\] exceeds input \[4,5\] off axis 0/);
    expect(() => gather(x, 0, flat)).toThrow(/gather: index \[3\] and input \[4,5\] differ in rank/);
    expect(() => gather(x, 2, flat)).toThrow(/gather: axis 2 out of range/);
    expect(() => gather(x, 1, wide, { out: wide })).toThrow(/gather: cannot write f32 values into a i32 out/);
    expect(() => indexSelect(x, 0, f)).toThrow(/indexSelect: index must be 1-D i32/);
    for (const t of [x, f, wide, flat]) t.dispose();
    expect(engine.stats().liveBytes).toBe(live);
    const meta = Engine.meta();
    const m = Tensor.empty(meta, [64, 8400], 'f16', 'other');
    const idx = Tensor.empty(meta, [300], 'i32', 'other');
    const before = meta.stats().liveBytes;
    const y = indexSelect(m, 1, idx);
    expect(meta.stats().liveBytes - before).toBe(64 * 300 * 2);
    for (const t of [y, m, idx]) t.dispose();
    expect(meta.stats().liveBytes).toBe(0);
  });
});
