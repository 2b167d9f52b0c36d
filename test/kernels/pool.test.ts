import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { copyInto } from '../../src/kernels/copy.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { maxPool2d, maxPool2dBackward, maxPool2dWithIndices } from '../../src/kernels/pool.js';
import { maxPool2dBackwardCpu, maxPool2dCpu } from '../../src/kernels/pool.cpu.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { bits, expectUntouchedOutside, filled } from '../helpers/k4-checks.js';

const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];

describe('maxPool2d', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches PyTorch semantics (border windows, padding never wins) for values and indices, views, f32/f16', async () => {
    engine = await testEngine();
    const shape = [2, 7, 9, 5];
    let seed = 0;
    for (const dtype of floatDtypes(engine)) {
      // SPPF's k5 s1 p2; k2 s2 leaving a ragged edge; k3 s2 p1 and k4 s3 p2 with windows hanging over two borders.
      for (const [k, s, p] of [[5, 1, 2], [2, 2, 0], [3, 2, 1], [4, 3, 2], [1, 1, 0]]) {
        const layout = LAYOUTS[seed % 3];
        const data = asStored(randomData(630, seed++, -3, -1), dtype); // all negative: a zero pad would win
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const ref = maxPool2dCpu(hostTensor(shape, data), k, s, p);
        const out = filled(engine, ref.out.shape, dtype);
        const { indices } = maxPool2dWithIndices(x, { kernel: k, stride: s, padding: p, out });
        const plain = maxPool2d(x, { kernel: k, stride: s, padding: p });
        expect(plain.shape).toEqual(ref.out.shape);
        const what = `${dtype} k${k} s${s} p${p} ${layout}`;
        expect(Array.from(await out.read()), what).toEqual(Array.from(ref.out.data));
        expect(Array.from(await plain.read()), what).toEqual(Array.from(ref.out.data));
        expect(Array.from(await indices.read()), what).toEqual(Array.from(ref.indices.data));
        for (const t of [x, out, plain, indices]) t.dispose();
      }
    }
  });

  it('breaks ties at the first maximum in window order', async () => {
    engine = await testEngine();
    const shape = [1, 6, 5, 3];
    for (const dtype of floatDtypes(engine)) {
      const data = Float32Array.from(randomData(90, 3), (v) => Math.round(v * 2)); // values in {-2..2}: many ties
      const x = tensorWithLayout(engine, data, shape, dtype, 'permuted');
      const { out, indices } = maxPool2dWithIndices(x, { kernel: 3, stride: 1, padding: 1 });
      const ref = maxPool2dCpu(hostTensor(shape, data), 3, 1, 1);
      expect(Array.from(await indices.read())).toEqual(Array.from(ref.indices.data));
      expect(Array.from(await out!.read())).toEqual(Array.from(ref.out.data));
      for (const t of [x, out!, indices]) t.dispose();
    }
  });

  it('runs SPPF inside one concat buffer: each pool reads one channel slice and writes the next', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const [n, h, w, c] = [2, 6, 7, 3];
    const channels = 4 * c + 1; // one spare channel that must stay untouched
    const data = randomData(n * h * w * c, 5, -2, 2);
    const x = Tensor.fromHost(engine, data, [n, h, w, c], 'f32', 'other');
    const cat = filled(engine, [n, h, w, channels], 'f32', 777);
    const slices = [0, 1, 2, 3].map((i) => cat.slice(3, i * c, (i + 1) * c));
    copyInto(x, slices[0]);
    for (let i = 1; i < 4; i++) maxPool2d(slices[i - 1], { kernel: 5, stride: 1, padding: 2, out: slices[i] });
    const expected: HostTensorLike[] = [hostTensor([n, h, w, c], data)];
    for (let i = 1; i < 4; i++) expected.push(maxPool2dCpu(expected[i - 1], 5, 1, 2).out);
    const got = await cat.read();
    for (let px = 0; px < n * h * w; px++)
      for (let ch = 0; ch < 4 * c; ch++) {
        const want = expected[Math.floor(ch / c)].data[px * c + (ch % c)];
        if (got[px * channels + ch] !== Math.fround(want)) expect.fail(`pixel ${px} channel ${ch}: ${got[px * channels + ch]} != ${want}`);
      }
    expectUntouchedOutside(got, channels, 0, 4 * c);
    for (const t of [x, cat, ...slices]) t.dispose();
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('backward sends each gradient to its window argmax, deterministically, f32/f16', async () => {
    engine = await testEngine();
    const live = engine.stats().liveBytes;
    const shape = [2, 9, 8, 3];
    let seed = 40;
    for (const dtype of floatDtypes(engine)) {
      for (const [k, s, p] of [[5, 1, 2], [3, 2, 1], [2, 2, 0]]) {
        const data = asStored(randomData(432, seed++, -2, 2), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, 'sliced');
        const { out, indices } = maxPool2dWithIndices(x, { kernel: k, stride: s, padding: p, out: null });
        expect(out).toBeNull();
        const gshape = indices.shape;
        const gdata = asStored(randomData(indices.size, seed++, 0.5, 1.5), dtype);
        const gradOut = tensorWithLayout(engine, gdata, [...gshape], dtype, 'permuted');
        const gradIn = maxPool2dBackward(gradOut, indices, shape, { kernel: k, stride: s, padding: p });
        const again = maxPool2dBackward(gradOut, indices, shape, { kernel: k, stride: s, padding: p });
        const ref = maxPool2dBackwardCpu(hostTensor(gshape, gdata), hostTensor(gshape, await indices.read()), shape);
        const got = await gradIn.read();
        const tol = dtype === 'f16' ? 2e-3 : 1e-6;
        expectClose(got, ref.data, tol, tol);
        expect(bits(await again.read())).toEqual(bits(got));
        for (const t of [x, indices, gradOut, gradIn, again]) t.dispose();
      }
    }
    expect(engine.stats().liveBytes).toBe(live);
  });

  it('validates its arguments and allocates only its outputs, identically in meta mode', async () => {
    engine = await testEngine();
    const x = Tensor.empty(engine, [1, 4, 4, 2], 'f32', 'other');
    expect(() => maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(/maxPool2d: padding 2 exceeds half the kernel 2/);
    expect(() => maxPool2d(x, { kernel: 7 })).toThrow(/does not fit input/);
    expect(() => maxPool2d(x, { kernel: 2, out: x })).toThrow(/maxPool2d: out has shape \[1,4,4,2\], expected \[1,2,2,2\]/);
    const flat = x.reshape([16, 2]);
    expect(() => maxPool2d(flat, { kernel: 2 })).toThrow(/NHWC/);
    for (const t of [x, flat]) t.dispose();
    const meta = Engine.meta();
    const m = Tensor.empty(meta, [2, 20, 20, 8], 'f16', 'other');
    const before = meta.stats().liveBytes;
    const { out, indices } = maxPool2dWithIndices(m, { kernel: 5, stride: 1, padding: 2 });
    expect(meta.stats().liveBytes - before).toBe(2 * 20 * 20 * 8 * (2 + 4)); // f16 values + i32 indices
    const grad = maxPool2dBackward(out!, indices, m.shape, { kernel: 5, stride: 1, padding: 2 });
    for (const t of [out!, indices, grad]) t.dispose();
    expect(meta.stats().liveBytes).toBe(before);
    m.dispose();
  });
});

type HostTensorLike = ReturnType<typeof hostTensor>;
