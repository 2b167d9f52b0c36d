import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { convGeometry } from '../../src/kernels/conv2d.js';
import { conv2dBiasGrad, conv2dInputGrad, conv2dWeightGrad } from '../../src/kernels/conv2d-backward.js';
import { conv2dInputGradCpu, conv2dWeightGradCpu } from '../../src/kernels/conv2d-backward.cpu.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { asStored, expectClose, floatDtypes, launchedKernels, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { withEmulatedSubgroupMatrix } from '../helpers/subgroup-matrix-emulation.js';

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
}

// Every phase pattern of the input gradient (stride 1, 2 with even/odd sizes, kernel smaller
// than the stride, padding 0..2), grouped and depthwise, and weight-gradient tiles of 16 to 128
// with ragged edges and a pixel count large enough to split the reduction.
const CASES: Record<string, Case> = {
  odd3x3: { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, stride: 1, pad: 1, groups: 1 },
  stride2: { n: 1, h: 13, w: 10, cin: 6, cout: 9, k: 3, stride: 2, pad: 1, groups: 1 },
  stride2pad0: { n: 2, h: 10, w: 9, cin: 8, cout: 16, k: 3, stride: 2, pad: 0, groups: 1 },
  oneByOneStride2: { n: 1, h: 9, w: 7, cin: 4, cout: 5, k: 1, stride: 2, pad: 0, groups: 1 },
  k5groups2: { n: 1, h: 9, w: 9, cin: 4, cout: 6, k: 5, stride: 1, pad: 2, groups: 2 },
  depthwise: { n: 2, h: 9, w: 7, cin: 8, cout: 8, k: 3, stride: 2, pad: 1, groups: 8 },
  wideTiles: { n: 2, h: 6, w: 5, cin: 24, cout: 40, k: 3, stride: 1, pad: 1, groups: 1 },
  splitPixels: { n: 3, h: 33, w: 31, cin: 3, cout: 16, k: 3, stride: 1, pad: 1, groups: 1 },
  tinyImages: { n: 9, h: 3, w: 2, cin: 8, cout: 12, k: 3, stride: 1, pad: 1, groups: 1 },
  // 16 -> 28 channels, stride 2: the input gradient's phases on the direct kernel (28 inputs onto 16 outputs)
  narrow28: { n: 2, h: 12, w: 11, cin: 16, cout: 28, k: 3, stride: 2, pad: 1, groups: 1 },
};

const TOL: Record<DType, number> = { f32: 2e-5, f16: 3e-3, i32: 0, u32: 0 };

describe('conv2d gradients', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  async function check(name: string, c: Case, dtype: DType, layout: Layout, seed: number, variant?: string, weightVariant = variant): Promise<void> {
    const xs = [c.n, c.h, c.w, c.cin];
    const ws = [c.cout, c.k, c.k, c.cin / c.groups];
    const o = { stride: c.stride, padding: c.pad, groups: c.groups };
    const g = convGeometry(xs, ws, o);
    const ys = [g.n, g.ho, g.wo, g.cout];
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const xd = asStored(randomData(size(xs), seed), dtype);
    const wd = asStored(randomData(size(ws), seed + 1, -0.5, 0.5), dtype);
    const dyd = asStored(randomData(size(ys), seed + 2), dtype);
    const x = tensorWithLayout(engine, xd, xs, dtype, layout);
    const dy = tensorWithLayout(engine, dyd, ys, dtype, layout);
    const w = Tensor.fromHost(engine, wd, ws, dtype, 'params');
    const dx = conv2dInputGrad(dy, w, xs, { ...o, dtype: 'f32', variant });
    const dw = conv2dWeightGrad(dy, x, ws, { ...o, variant: weightVariant });
    const db = conv2dBiasGrad(dy);
    const refDx = conv2dInputGradCpu(hostTensor(ys, dyd), hostTensor(ws, wd), xs, o);
    const refDw = conv2dWeightGradCpu(hostTensor(ys, dyd), hostTensor(xs, xd), ws, o);
    const refDb = new Float64Array(c.cout);
    dyd.forEach((v, i) => (refDb[i % c.cout] += v));
    const tol = TOL[dtype];
    try {
      expect(dx.shape).toEqual(xs);
      expect(dw.shape).toEqual(ws);
      // Sums of up to a few hundred terms: scale the tolerance with the reduction length.
      expectClose(await dx.read(), refDx.data, tol, tol * 4);
      expectClose(await dw.read(), refDw.data, tol * 4, tol * Math.sqrt(g.n * g.ho * g.wo));
      expectClose(await db.read(), refDb, tol * 4, tol * Math.sqrt(g.n * g.ho * g.wo));
    } catch (e) {
      throw new Error(`case ${name} (${dtype}, ${layout}${variant ? `, variant ${variant}` : ''}${weightVariant !== variant ? `, weight variant ${weightVariant}` : ''}): ${(e as Error).message}`);
    }
    for (const t of [x, dy, w, dx, dw, db]) t.dispose();
  }

  it('input, weight and bias gradients match the float64 reference on every case', async () => {
    engine = await testEngine();
    let seed = 7;
    for (const [name, c] of Object.entries(CASES)) await check(name, c, 'f32', 'contiguous', (seed += 10));
  });

  it('reads sliced and permuted views of x and dy, in f16 too', async () => {
    engine = await testEngine();
    const pick = ['stride2', 'k5groups2', 'depthwise'] as const;
    for (const dtype of floatDtypes(engine)) {
      for (const layout of ['sliced', 'permuted'] as const) {
        for (const name of pick) await check(name, CASES[name], dtype, layout, 99);
      }
    }
  });

  it('computes the weight gradient with every SIMT tile shape on request: 4 and 8 outputs per thread, steps of 8 to 32 pixels spanning rows and images, one or two buffers', async () => {
    engine = await testEngine();
    const runs: [string, DType, Layout, string][] = [
      ['wideTiles', 'f32', 'contiguous', '64x128:8x8:16/2'], // vec4 reads, Cout 40 of 64, N 216 of 256, rows of 5 pixels
      ['wideTiles', 'f32', 'permuted', '32x64:8x4:32/1'], // scalar reads through strides
      ['splitPixels', 'f32', 'contiguous', '16x32:4x8:8'], // N 27 of 32, split pixels
      ['tinyImages', 'f32', 'sliced', '16x128:4x8:32/1'], // a step spans several 6-pixel images
      ['k5groups2', 'f32', 'sliced', '16x16:4x4:16/1'], // groups, ragged tiles
      ['stride2pad0', floatDtypes(engine).at(-1)!, 'contiguous', '128x32:8x8:8/2'], // taller tile than Cout
    ];
    for (const [i, [name, dtype, layout, variant]] of runs.entries()) await check(name, CASES[name], dtype, layout, 600 + i, undefined, variant);
    const [a, b] = [0, 1].map(() => Tensor.empty(engine, [1, 4, 4, 8], 'f32', 'input'));
    expect(() => conv2dWeightGrad(a, b, [8, 1, 1, 8], { variant: '64x64:8x8:12/2' })).toThrow(/unsupported tile/);
    a.dispose();
    b.dispose();
  });

  it('runs f16 input and weight gradients on the tensor-core kernels on request (fragments emulated here): vec4 and scalar gathers, groups, split pixels, views', async () => {
    const real = await testEngine();
    if (!real.features.shaderF16 || !real.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(real, { M: 16, N: 16, K: 16 });
    engine = emulated.engine;
    try {
      await check('wideTiles', CASES.wideTiles, 'f16', 'contiguous', 700, 'sg'); // the default tensor-core tiles: vec4 reads, Cout 40 of 64, N 216 of 256
      await check('wideTiles', CASES.wideTiles, 'f16', 'contiguous', 705, 'sg', 'sg:1x1:1x1:16'); // interior tiles store fragments straight into the gradient
      await check('splitPixels', CASES.splitPixels, 'f16', 'contiguous', 710, 'sg:1x2:1x2:32'); // scalar reads, two pixel splits
      await check('k5groups2', CASES.k5groups2, 'f16', 'sliced', 720, 'sg:1x2:1x2:32'); // groups, strided views
      await check('stride2pad0', CASES.stride2pad0, 'f16', 'permuted', 730, 'sg:2x2:2x2:32');
      await check('splitPixels', CASES.splitPixels, 'f16', 'contiguous', 740, 'sg', 'sg:1x2:1x2:32@2'); // weight gradient loads two steps ahead, two splits
      await check('k5groups2', CASES.k5groups2, 'f16', 'sliced', 750, 'sg', 'sg:1x2:1x2:16/1@2');
    } finally {
      emulated.release();
      engine = real;
    }
  });

  it("runs narrow layers' input gradients (at most 32 outputs, 16 on one side) on the direct kernel by default: scalar and vec4 loads, views", async () => {
    engine = await testEngine();
    const keys = await launchedKernels(engine, async () => {
      await check('narrow28', CASES.narrow28, 'f32', 'contiguous', 800); // vec4 loads
      await check('narrow28', CASES.narrow28, 'f32', 'permuted', 805); // scalar loads through strides
      await check('splitPixels', CASES.splitPixels, floatDtypes(engine).at(-1)!, 'sliced', 810); // 16 inputs onto 3 outputs, strided views
    });
    // Stride-2 phases reached by a single tap are pointwise convs: the GEMM kernel.
    const gemms = keys.filter((k) => k.startsWith('conv2d:'));
    expect(gemms.filter((k) => !k.includes(':pointwise:'))).toEqual([]);
    const kinds = new Set(keys.filter((k) => k.startsWith('conv2d') && !gemms.includes(k)).map((k) => k.split(':')[0]));
    expect([...kinds].sort()).toEqual(['conv2d-direct', 'conv2d-phase-weight', 'conv2d-wgrad']);
  });

  it('leaves no workspace behind', async () => {
    engine = await testEngine();
    const before = engine.stats().live.workspace;
    await check('splitPixels', CASES.splitPixels, 'f32', 'contiguous', 5);
    expect(engine.stats().live.workspace).toBe(before);
  });
});
