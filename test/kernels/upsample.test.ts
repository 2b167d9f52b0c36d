import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { upsampleNearest, upsampleNearestBackward } from '../../src/kernels/upsample.js';
import { upsampleNearestBackwardCpu, upsampleNearestCpu } from '../../src/kernels/upsample.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { bits, channelSlice, expectUntouchedOutside } from '../helpers/k4-checks.js';

describe('upsampleNearest', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('repeats pixels by x2, x3 and x(2,3) from any view into a channel slice of a concat buffer', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [2, 3, 5, 4];
    let seed = 0;
    for (const dtype of floatDtypes(engine)) {
      for (const [fh, fw, layout] of [[2, 2, 'sliced'], [3, 3, 'permuted'], [2, 3, 'contiguous']] as [number, number, Layout][]) {
        const data = asStored(randomData(120, seed++), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const { buffer, slice } = channelSlice(engine, [2, 3 * fh, 5 * fw, 4], dtype, 1, 2);
        const ret = upsampleNearest(x, fh === fw ? fh : [fh, fw], { out: slice });
        expect(ret).toBe(slice);
        const ref = upsampleNearestCpu(hostTensor(shape, data), fh, fw);
        expect(Array.from(await slice.read()), `${dtype} x(${fh},${fw}) ${layout}`).toEqual(Array.from(ref.data));
        expectUntouchedOutside(await buffer.read(), 7, 1, 4);
        // A new tensor when no out is given.
        const fresh = upsampleNearest(x, [fh, fw]);
        expect(fresh.shape).toEqual(ref.shape);
        expect(Array.from(await fresh.read())).toEqual(Array.from(ref.data));
        // Cast on the way (f16 maps into an f32 buffer and back).
        const otherDtype = dtype === 'f16' ? 'f32' : floatDtypes(engine).at(-1)!;
        const other = channelSlice(engine, ref.shape, otherDtype, 0, 1);
        upsampleNearest(x, [fh, fw], { out: other.slice });
        expect(Array.from(await other.slice.read())).toEqual(Array.from(asStored(Float32Array.from(ref.data), otherDtype)));
        for (const t of [x, buffer, slice, fresh, other.buffer, other.slice]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('backward sums each block of output gradients, from a channel-slice view, deterministically', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    let seed = 20;
    for (const dtype of floatDtypes(engine)) {
      for (const [fh, fw] of [[2, 2], [3, 2]]) {
        const gshape = [2, 3 * fh, 5 * fw, 3];
        const gdata = asStored(randomData(gshape.reduce((a, b) => a * b), seed++, -2, 2), dtype);
        const g = tensorWithLayout(engine, gdata, gshape, dtype, seed % 2 ? 'sliced' : 'permuted');
        const gradIn = upsampleNearestBackward(g, [fh, fw]);
        const again = upsampleNearestBackward(g, [fh, fw]);
        const ref = upsampleNearestBackwardCpu(hostTensor(gshape, gdata), fh, fw);
        expect(gradIn.shape).toEqual(ref.shape);
        const got = await gradIn.read();
        const tol = dtype === 'f16' ? 2e-3 : 1e-6;
        expectClose(got, ref.data, tol, tol);
        expect(bits(await again.read())).toEqual(bits(got));
        for (const t of [g, gradIn, again]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('validates its arguments and allocates only its output, identically in meta mode', async () => {
    engine = await testEngine();
    const x = Tensor.empty(engine, [1, 2, 3, 4], 'f32', 'other');
    expect(() => upsampleNearest(x, 1.5)).toThrow(/upsampleNearest: scale factors must be positive integers/);
    expect(() => upsampleNearest(x, 2, { out: x })).toThrow(/upsampleNearest: out has shape \[1,2,3,4\], expected \[1,4,6,4\]/);
    expect(() => upsampleNearestBackward(x, 2)).toThrow(/not a multiple of the factors/);
    x.dispose();
    const meta = Engine.meta();
    const m = Tensor.empty(meta, [2, 10, 10, 16], 'f16', 'other');
    const before = meta.stats().liveBytes;
    const up = upsampleNearest(m, 2);
    expect(meta.stats().liveBytes - before).toBe(2 * 20 * 20 * 16 * 2);
    const back = upsampleNearestBackward(up, 2);
    expect(back.shape).toEqual(m.shape);
    for (const t of [up, back, m]) t.dispose();
    expect(meta.stats().liveBytes).toBe(0);
  });
});
