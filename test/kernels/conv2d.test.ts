import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';
import { conv2d, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { conv2dCpu } from '../../src/kernels/conv2d.cpu.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

interface Case {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
  groups: number;
  epilogue?: 'bias' | 'affine-silu';
}

describe('conv2d', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  async function check(c: Case, dtype: DType, layout: Layout, seed: number) {
    const xs = [c.n, c.h, c.w, c.cin];
    const ws = [c.cout, c.k, c.k, c.cin / c.groups];
    const xd = asStored(randomData(xs.reduce((a, b) => a * b), seed), dtype);
    const wd = asStored(randomData(ws.reduce((a, b) => a * b), seed + 1, -0.5, 0.5), dtype);
    const x = tensorWithLayout(engine, xd, xs, dtype, layout);
    const w = Tensor.fromHost(engine, wd, ws, dtype, 'params');
    const bias = randomData(c.cout, seed + 2);
    const scale = randomData(c.cout, seed + 3, 0.5, 1.5);
    const shift = randomData(c.cout, seed + 4);
    const extras: Tensor[] = [];
    const opts: Conv2dOptions = { stride: c.stride, padding: c.pad, groups: c.groups, outDtype: 'f32' };
    if (c.epilogue === 'bias') extras.push((opts.bias = Tensor.fromHost(engine, bias, [c.cout], 'f32', 'params')));
    if (c.epilogue === 'affine-silu') {
      extras.push((opts.scale = Tensor.fromHost(engine, scale, [c.cout], 'f32', 'params')));
      extras.push((opts.shift = Tensor.fromHost(engine, shift, [c.cout], 'f32', 'params')));
      opts.silu = true;
    }
    const out = conv2d(x, w, opts);
    const ref = conv2dCpu(hostTensor(xs, xd), hostTensor(ws, wd), {
      stride: c.stride,
      padding: c.pad,
      groups: c.groups,
      bias: c.epilogue === 'bias' ? bias : undefined,
      scale: c.epilogue === 'affine-silu' ? scale : undefined,
      shift: c.epilogue === 'affine-silu' ? shift : undefined,
      silu: c.epilogue === 'affine-silu',
    });
    expect(out.shape).toEqual(ref.shape);
    expectClose(await out.read(), ref.data, dtype === 'f16' ? 3e-3 : 1e-5, dtype === 'f16' ? 3e-3 : 1e-5);
    for (const t of [x, w, out, ...extras]) t.dispose();
  }

  const cases: Case[] = [
    { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, stride: 1, pad: 1, groups: 1, epilogue: 'bias' },
    { n: 1, h: 13, w: 10, cin: 6, cout: 9, k: 3, stride: 2, pad: 1, groups: 1, epilogue: 'affine-silu' },
    { n: 2, h: 7, w: 8, cin: 12, cout: 70, k: 1, stride: 1, pad: 0, groups: 1 },
    { n: 1, h: 9, w: 9, cin: 4, cout: 6, k: 5, stride: 1, pad: 2, groups: 2 },
    { n: 2, h: 9, w: 7, cin: 8, cout: 8, k: 3, stride: 2, pad: 1, groups: 8, epilogue: 'affine-silu' },
    { n: 1, h: 6, w: 6, cin: 3, cout: 4, k: 3, stride: 1, pad: 0, groups: 1 },
  ];

  it('matches the direct CPU convolution: kernels 1/3/5, strides, padding, groups, depthwise, epilogues', async () => {
    engine = await testEngine();
    let seed = 1;
    for (const c of cases) await check(c, 'f32', 'contiguous', (seed += 10));
  });

  it('reads sliced and permuted input views, and f16', async () => {
    engine = await testEngine();
    await check(cases[0], 'f32', 'sliced', 100);
    await check(cases[1], 'f32', 'permuted', 110);
    await check(cases[4], 'f32', 'sliced', 120);
    if (floatDtypes(engine).includes('f16')) {
      await check(cases[0], 'f16', 'contiguous', 130);
      await check(cases[4], 'f16', 'contiguous', 140);
    }
  });

  it('writes into a channel slice of a larger tensor and leaves the rest untouched', async () => {
    engine = await testEngine();
    const xd = randomData(2 * 5 * 4 * 3, 200);
    const wd = randomData(6 * 3 * 3 * 3, 201);
    const x = Tensor.fromHost(engine, xd, [2, 5, 4, 3], 'f32', 'other');
    const w = Tensor.fromHost(engine, wd, [6, 3, 3, 3], 'f32', 'params');
    const concat = Tensor.empty(engine, [2, 5, 4, 10], 'f32', 'other');
    fill(concat, -9);
    const slice = concat.slice(3, 3, 9);
    conv2d(x, w, { padding: 1, out: slice });
    const ref = conv2dCpu(hostTensor([2, 5, 4, 3], xd), hostTensor([6, 3, 3, 3], wd), { padding: 1 });
    const got = await concat.read();
    for (let p = 0; p < 2 * 5 * 4; p++) {
      for (let c = 0; c < 10; c++) {
        const v = got[p * 10 + c];
        if (c >= 3 && c < 9) expect(Math.abs(v - ref.data[p * 6 + c - 3])).toBeLessThan(1e-5);
        else expect(v).toBe(-9);
      }
    }
    for (const t of [x, w, concat, slice]) t.dispose();
  });

  it('rejects mismatched weights with a clear message', async () => {
    engine = await testEngine();
    const x = Tensor.empty(engine, [1, 4, 4, 6], 'f32', 'other');
    const w = Tensor.empty(engine, [8, 3, 3, 4], 'f32', 'other');
    expect(() => conv2d(x, w, { groups: 2 })).toThrow(/need a weight of \[8,KH,KW,3\]/);
    x.dispose();
    w.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
