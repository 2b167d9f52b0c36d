import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';
import { conv2d, convGeometry, type Conv2dOptions } from '../../src/kernels/conv2d.js';
import { conv2dWeightGrad } from '../../src/kernels/conv2d-backward.js';
import { convShapeKey } from '../../src/kernels/conv-variants.js';
import { DIV_SMALL_WGSL } from '../../src/kernels/conv2d.wgsl.js';
import { launch, Params } from '../../src/kernels/launch.js';
import { conv2dCpu } from '../../src/kernels/conv2d.cpu.js';
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
  /** 'all' = bias + affine + SiLU. */
  epilogue?: 'bias' | 'all';
  variant?: string;
  /** The weight's dtype when it differs from the input's. */
  weightDtype?: DType;
}

/** Input layouts: the helper's (sliced: offset 2, pixel stride C+3; permuted) or a 16-byte aligned channel slice of a wider tensor. */
type InputLayout = Layout | 'channel-slice';

const TOL: Record<DType, number> = { f32: 1e-5, f16: 2e-3, i32: 0, u32: 0 };

// Cases chosen to reach every template branch (A gather: general scalar / general vec4 /
// tap-aligned / pointwise; vec4 and scalar weights and outputs; depthwise with 1 and 4
// lanes; grouped; ragged M, N, K tiles) while sharing pipelines, which lavapipe compiles slowly.
// Narrow 3x3 layers take the direct kernel by default (tested below), so these force the GEMM with 'simt'.
const CASES: Record<string, Case> = {
  odd3x3: { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, stride: 1, pad: 1, groups: 1, epilogue: 'all', variant: 'simt' },
  stride2: { n: 1, h: 13, w: 10, cin: 6, cout: 9, k: 3, stride: 2, pad: 1, groups: 1, epilogue: 'all', variant: 'simt' },
  cin3: { n: 1, h: 6, w: 6, cin: 3, cout: 4, k: 3, stride: 1, pad: 0, groups: 1, epilogue: 'all', variant: 'simt' },
  pointwiseWide: { n: 2, h: 7, w: 8, cin: 12, cout: 70, k: 1, stride: 1, pad: 0, groups: 1 },
  k5groups2: { n: 1, h: 9, w: 9, cin: 4, cout: 6, k: 5, stride: 1, pad: 2, groups: 2, epilogue: 'all' },
  tapAligned: { n: 2, h: 9, w: 11, cin: 16, cout: 24, k: 3, stride: 1, pad: 1, groups: 1, epilogue: 'all', variant: 'simt' },
  vecStride2: { n: 2, h: 10, w: 9, cin: 8, cout: 16, k: 3, stride: 2, pad: 0, groups: 1, epilogue: 'all', variant: 'simt' },
  oneByOneStride2: { n: 1, h: 9, w: 7, cin: 4, cout: 5, k: 1, stride: 2, pad: 0, groups: 1 },
  groups2vec: { n: 1, h: 7, w: 7, cin: 16, cout: 8, k: 3, stride: 1, pad: 1, groups: 2, epilogue: 'all' },
  depthwise: { n: 2, h: 9, w: 7, cin: 8, cout: 8, k: 3, stride: 2, pad: 1, groups: 8, epilogue: 'all' },
  depthwiseOdd: { n: 1, h: 8, w: 7, cin: 5, cout: 5, k: 5, stride: 1, pad: 2, groups: 5, epilogue: 'bias' },
  // 8 x 8 outputs per thread, BK 8, one staging buffer, unrolled k steps (the default choice takes 4 x 4 on small shapes).
  bigTiles: { n: 2, h: 9, w: 11, cin: 16, cout: 24, k: 3, stride: 1, pad: 1, groups: 1, epilogue: 'all', variant: '128x32:8x8:8/1u' },
};

describe('conv2d', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  function input(c: Case, data: Float32Array, dtype: DType, layout: InputLayout): Tensor {
    const shape = [c.n, c.h, c.w, c.cin];
    if (layout !== 'channel-slice') return tensorWithLayout(engine, data, shape, dtype, layout);
    const total = c.cin + 8;
    const host = new Float32Array(c.n * c.h * c.w * total).fill(1000); // poison outside the window
    for (let p = 0; p < c.n * c.h * c.w; p++) host.set(data.subarray(p * c.cin, (p + 1) * c.cin), p * total + 4);
    const wide = Tensor.fromHost(engine, host, [c.n, c.h, c.w, total], dtype, 'other');
    const view = wide.slice(3, 4, 4 + c.cin);
    wide.dispose();
    return view;
  }

  /**
   * Runs one case into an output poisoned with NaN (f32) or a huge value (f16) and checks
   * every element; with `c0`, the output is the channel slice [c0, c0 + Cout) of a wider
   * poisoned tensor, and every element outside the slice must still hold the poison.
   */
  async function check(c: Case, dtype: DType, layout: InputLayout, seed: number, c0?: number): Promise<Float32Array> {
    const xs = [c.n, c.h, c.w, c.cin];
    const ws = [c.cout, c.k, c.k, c.cin / c.groups];
    const xd = asStored(randomData(xs.reduce((a, b) => a * b), seed), dtype);
    const wd = asStored(randomData(ws.reduce((a, b) => a * b), seed + 1, -0.5, 0.5), c.weightDtype ?? dtype);
    const bias = asStored(randomData(c.cout, seed + 2), dtype);
    const scale = asStored(randomData(c.cout, seed + 3, 0.5, 1.5), dtype);
    const shift = asStored(randomData(c.cout, seed + 4), dtype);
    const x = input(c, xd, dtype, layout);
    const w = Tensor.fromHost(engine, wd, ws, c.weightDtype ?? dtype, 'params');
    const g = convGeometry(xs, ws, { stride: c.stride, padding: c.pad, groups: c.groups });
    const total = c0 === undefined ? c.cout : c.cout + 13;
    const poison = dtype === 'f32' ? NaN : 60000;
    const whole = Tensor.empty(engine, [c.n, g.ho, g.wo, total], dtype, 'other');
    fill(whole, poison);
    const out = c0 === undefined ? whole : whole.slice(3, c0, c0 + c.cout);
    const owned: Tensor[] = [x, w, whole, ...(out === whole ? [] : [out])];
    const opts: Conv2dOptions = { stride: c.stride, padding: c.pad, groups: c.groups, out, variant: c.variant };
    if (c.epilogue) {
      // The bias is a view with an offset (a slice of a larger parameter tensor).
      const biasHost = new Float32Array(c.cout + 3).fill(1000);
      biasHost.set(bias, 2);
      const biasStore = Tensor.fromHost(engine, biasHost, [c.cout + 3], dtype, 'params');
      opts.bias = biasStore.slice(0, 2, 2 + c.cout);
      owned.push(biasStore, opts.bias);
    }
    if (c.epilogue === 'all') {
      owned.push((opts.scale = Tensor.fromHost(engine, scale, [c.cout], dtype, 'params')));
      owned.push((opts.shift = Tensor.fromHost(engine, shift, [c.cout], dtype, 'params')));
      opts.silu = true;
    }
    expect(conv2d(x, w, opts)).toBe(out);
    const ref = conv2dCpu(hostTensor(xs, xd), hostTensor(ws, wd), {
      stride: c.stride,
      padding: c.pad,
      groups: c.groups,
      bias: c.epilogue ? bias : undefined,
      scale: c.epilogue === 'all' ? scale : undefined,
      shift: c.epilogue === 'all' ? shift : undefined,
      silu: c.epilogue === 'all',
    });
    const all = await whole.read();
    const got = new Float32Array(ref.data.length);
    for (let p = 0; p < ref.data.length / c.cout; p++) {
      for (let ch = 0; ch < total; ch++) {
        const v = all[p * total + ch];
        const inside = ch >= (c0 ?? 0) && ch < (c0 ?? 0) + c.cout;
        if (inside) got[p * c.cout + ch - (c0 ?? 0)] = v;
        else if (!Object.is(v, poison)) expect.fail(`pixel ${p}, channel ${ch} outside the output slice was overwritten: ${v}`);
      }
    }
    expectClose(got, ref.data, TOL[dtype], TOL[dtype]);
    for (const t of owned) t.dispose();
    return got;
  }

  it('matches the direct CPU convolution: kernels 1/3/5, strides 1/2, padding 0/1/2, groups, depthwise, epilogues', async () => {
    engine = await testEngine();
    let seed = 1;
    for (const [name, c] of Object.entries(CASES)) {
      try {
        await check(c, 'f32', 'contiguous', (seed += 10));
      } catch (e) {
        throw new Error(`case ${name}: ${(e as Error).message}`);
      }
    }
  });

  it('reads sliced, permuted and channel-slice input views', async () => {
    engine = await testEngine();
    await check(CASES.odd3x3, 'f32', 'sliced', 100);
    await check(CASES.stride2, 'f32', 'permuted', 110);
    await check(CASES.tapAligned, 'f32', 'sliced', 120);
    await check(CASES.tapAligned, 'f32', 'channel-slice', 130);
    await check(CASES.depthwise, 'f32', 'channel-slice', 140);
  });

  it('computes in f16 (f16 in and out, f32 accumulation)', async () => {
    engine = await testEngine();
    if (!floatDtypes(engine).includes('f16')) return;
    await check(CASES.odd3x3, 'f16', 'contiguous', 200);
    await check(CASES.tapAligned, 'f16', 'channel-slice', 210);
    await check(CASES.depthwise, 'f16', 'contiguous', 220);
  });

  /**
   * Runs `body` with `engine` set to a view of the test engine with emulated 16x16x16 f16
   * subgroup matrices (skipped without f16 and subgroups), then restores the engine and its
   * kernel choices.
   */
  async function onEmulatedTensorCores(body: (emulated: ReturnType<typeof withEmulatedSubgroupMatrix>) => Promise<void>): Promise<void> {
    const real = await testEngine();
    if (!real.features.shaderF16 || !real.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(real, { M: 16, N: 16, K: 16 });
    const { convKernels, convVariants } = real;
    engine = emulated.engine;
    try {
      await body(emulated);
    } finally {
      real.convKernels = convKernels;
      real.convVariants = convVariants;
      emulated.release();
      engine = real;
    }
  }

  it('runs the tensor-core kernel on request (fragments emulated here): every gather, ragged tiles, groups, views, output slices, loads two steps ahead', async () => {
    const sg = (c: Case, variant: string): Case => ({ ...c, variant });
    await onEmulatedTensorCores(async () => {
      await check(sg(CASES.odd3x3, 'sg'), 'f16', 'contiguous', 600); // the default tensor-core tiles: general scalar gather, Cout 7 of 16
      await check(sg(CASES.cin3, 'sg:2x1:1x1:16/1'), 'f16', 'permuted', 605); // one staging buffer
      await check(sg(CASES.tapAligned, 'sg:2x2:1x1:16'), 'f16', 'channel-slice', 610); // tap-aligned vec4 gather
      await check(sg(CASES.pointwiseWide, 'sg:1x2:2x3:32'), 'f16', 'sliced', 620); // pointwise, N 70 of 96, scalar weight rows
      await check(sg(CASES.vecStride2, 'sg:2x1:1x1:16'), 'f16', 'contiguous', 630, 5); // general vec4 gather, output slice
      await check(sg(CASES.groups2vec, 'sg:2x1:1x1:32'), 'f16', 'contiguous', 640); // groups (grid z), depth 32 over K 72
      await check({ ...sg(CASES.stride2, 'sg'), weightDtype: 'f32' }, 'f16', 'contiguous', 650); // f32 weight rounded to f16 as it loads
      // loads two steps ahead: one and two buffers, an even (2), odd (9, 3) and single k step count
      await check(sg(CASES.cin3, 'sg:2x1:1x1:16/1@2'), 'f16', 'contiguous', 655);
      await check(sg(CASES.tapAligned, 'sg:2x2:1x1:16@2'), 'f16', 'contiguous', 656);
      await check(sg(CASES.groups2vec, 'sg:2x1:1x1:32/1@2'), 'f16', 'contiguous', 657);
      await check(sg(CASES.pointwiseWide, 'sg:1x2:2x3:32@2'), 'f16', 'contiguous', 658);
    });
  });

  it('runs f16 convolutions and their weight gradients on the tensor cores by default where the channels make them pay, never with convKernels simt', async () => {
    await onEmulatedTensorCores(async (emulated) => {
      const kinds = () => emulated.ran.splice(0).map((key) => key.split(':')[0]);
      const wide: Case = { ...CASES.tapAligned, cin: 32, variant: undefined }; // 32 -> 24 channels, 3x3
      const [x, dy] = [[2, 9, 11, 32], [2, 9, 11, 24]].map((shape) => Tensor.fromHost(engine, randomData(shape.reduce((a, b) => a * b), 661), shape, 'f16', 'input'));
      const wgrad = () => conv2dWeightGrad(dy, x, [24, 3, 3, 32], { padding: 1 }).dispose();
      expect(engine.convKernels).toBe('tensor-cores');
      await check(wide, 'f16', 'contiguous', 660);
      wgrad();
      await check(wide, 'f32', 'contiguous', 661); // f32 inputs never
      expect(kinds()).toEqual(['conv2d-sgmat', 'conv2d-wgrad-sgmat']);
      // 16 input channels (the direct kernel), a pointwise conv of 32 -> 32 (SIMT); pointwise 32 -> 64: tensor cores (tensorCoresPay)
      await check({ ...CASES.tapAligned, variant: undefined }, 'f16', 'contiguous', 662);
      await check({ ...CASES.pointwiseWide, cin: 32, cout: 32 }, 'f16', 'contiguous', 663);
      expect(kinds()).toEqual([]);
      await check({ ...CASES.pointwiseWide, cin: 32, cout: 64 }, 'f16', 'contiguous', 664);
      expect(kinds()).toEqual(['conv2d-sgmat']);
      engine.convKernels = 'simt';
      await check(wide, 'f16', 'contiguous', 665);
      wgrad();
      expect(kinds()).toEqual([]);
      x.dispose();
      dy.dispose();
    });
  });

  it('takes the kernel a variant table names for a shape, and the default for shapes it does not name', async () => {
    const [xs, ws, dys] = [[2, 9, 11, 32], [24, 3, 3, 32], [2, 9, 11, 24]];
    const wgradKey = (n: number) => convShapeKey('conv2dWeightGrad', 'f16', convGeometry([n, ...xs.slice(1)], ws, { padding: 1 }));
    await onEmulatedTensorCores(async (emulated) => {
      engine.convVariants = { [wgradKey(2)]: 'simt', [wgradKey(3)]: 'sg:1x1:1x1:16' };
      for (const n of [2, 3, 4]) {
        const [x, dy] = [xs, dys].map((shape, i) => Tensor.fromHost(engine, randomData(n * shape.slice(1).reduce((a, b) => a * b), 670 + i), [n, ...shape.slice(1)], 'f16', 'input'));
        conv2dWeightGrad(dy, x, ws, { padding: 1 }).dispose();
        x.dispose();
        dy.dispose();
      }
      // n = 2: SIMT, n = 3: the named tiles, n = 4: the default tiles (2 x 4 subgroups).
      expect(emulated.ran.map((key) => key.split(':').slice(0, 2).join(':'))).toEqual(['conv2d-wgrad-sgmat:16x16x16/32', 'conv2d-wgrad-sgmat:16x16x16/32']);
      expect(emulated.ran[0]).toContain(':1x1x1x1x16/');
      expect(emulated.ran[1]).not.toContain(':1x1x1x1x16/');
    });
  });

  it('runs narrow layers on the direct kernel by default: scalar and vec4 inputs, odd output channels, strides, views, slices, f16', async () => {
    engine = await testEngine();
    const narrow: Record<string, Case> = {
      stem: { n: 2, h: 13, w: 11, cin: 3, cout: 16, k: 3, stride: 2, pad: 1, groups: 1, epilogue: 'all' }, // scalar loads
      odd: { ...CASES.odd3x3, variant: undefined }, // 7 outputs: a partial quad, scalar stores
      wide: { n: 1, h: 9, w: 10, cin: 16, cout: 32, k: 3, stride: 2, pad: 1, groups: 1, epilogue: 'bias' }, // 8 quads, 2 pixels per thread
      deep: { n: 1, h: 7, w: 9, cin: 32, cout: 12, k: 3, stride: 1, pad: 0, groups: 1 }, // 32 inputs onto 12 outputs
    };
    const keys = await launchedKernels(engine, async () => {
      let seed = 700;
      for (const [name, c] of Object.entries(narrow)) {
        try {
          await check(c, 'f32', 'contiguous', (seed += 10));
          await check(c, 'f32', name === 'stem' ? 'permuted' : 'channel-slice', (seed += 10), 3);
        } catch (e) {
          throw new Error(`case ${name}: ${(e as Error).message}`);
        }
      }
      // Fewer workgroups than pixel blocks: each strides over several.
      await check({ ...narrow.wide, n: 3, h: 40, w: 36, variant: 'direct/2' }, 'f32', 'sliced', 790);
      if (floatDtypes(engine).includes('f16')) await check(narrow.wide, 'f16', 'channel-slice', 795, 5);
    });
    const kernels = keys.filter((key) => key.startsWith('conv2d'));
    expect(kernels.length).toBeGreaterThanOrEqual(9);
    expect(kernels.filter((key) => !key.startsWith('conv2d-direct:'))).toEqual([]);
    const [x, w] = [Tensor.empty(engine, [1, 5, 5, 4], 'f32', 'other'), Tensor.empty(engine, [4, 3, 3, 2], 'f32', 'params')];
    expect(() => conv2d(x, w, { groups: 2, variant: 'direct' })).toThrow(/variant "direct" runs ungrouped convolutions only \(2 groups\)/);
    x.dispose();
    w.dispose();
  });

  it('decodes pixels with f32 reciprocals exactly: quotients up to 2^21, divisors up to 2^20, remainders 0 and d - 1', async () => {
    engine = await testEngine();
    const cases: [number, number][] = [];
    let seed = 12345;
    const rand = (limit: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % limit);
    // f32(1/d) rounds up for most d, down for 25, 41, 43 (estimates one below: the upward correction)
    for (const d of [1, 2, 3, 5, 7, 20, 25, 41, 43, 80, 160, 320, 6400, 25600, 102400, 409600, 1048573]) {
      for (const q of [0, 1, 2, 63, 64, 1000, 65535, (1 << 21) - 1, ...Array.from({ length: 8 }, () => rand(1 << 21)), rand(1 << 12)]) {
        for (const r of [0, d - 1, rand(d)]) if (q * d + r < 2 ** 32) cases.push([q * d + r, d]);
      }
    }
    const n = Tensor.fromHost(engine, Uint32Array.from(cases, ([v]) => v), [cases.length], 'u32', 'other');
    const d = Tensor.fromHost(engine, Uint32Array.from(cases, ([, v]) => v), [cases.length], 'u32', 'other');
    const inv = Tensor.fromHost(engine, Float32Array.from(cases, ([, v]) => 1 / v), [cases.length], 'f32', 'other');
    const q = Tensor.empty(engine, [cases.length], 'u32', 'other');
    const wgsl = `${DIV_SMALL_WGSL}
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> n: array<u32>;
@group(0) @binding(3) var<storage, read_write> d: array<u32>;
@group(0) @binding(4) var<storage, read_write> inv: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < P.count) { q[gid.x] = divSmall(n[gid.x], d[gid.x], inv[gid.x]); }
}`;
    launch(engine, { key: 'test-div-small', name: 'divSmall', build: () => wgsl }, [q, n, d, inv], new Params().u32(cases.length), [Math.ceil(cases.length / 64), 1, 1]);
    const got = await q.read();
    cases.forEach(([v, dv], i) => {
      if (got[i] !== Math.floor(v / dv)) expect.fail(`${v} / ${dv}: got ${got[i]}, expected ${Math.floor(v / dv)}`);
    });
    for (const t of [n, d, inv, q]) t.dispose();
  });

  it('gives the same bits on every run', async () => {
    engine = await testEngine();
    const a = await check(CASES.tapAligned, 'f32', 'contiguous', 300);
    const b = await check(CASES.tapAligned, 'f32', 'contiguous', 300);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  it('writes into a channel slice of a larger tensor and leaves the rest untouched', async () => {
    engine = await testEngine();
    await check(CASES.vecStride2, 'f32', 'contiguous', 400, 8); // vec4 stores
    await check(CASES.vecStride2, 'f32', 'contiguous', 410, 3); // scalar stores
    await check(CASES.depthwise, 'f32', 'contiguous', 420, 4);
  });

  it('reads one channel slice of a buffer and writes another slice of it (C2f-style), and rejects overlap', async () => {
    engine = await testEngine();
    const [n, h, w, cin, cout, total] = [2, 6, 5, 16, 8, 24];
    const data = randomData(n * h * w * total, 500);
    const buf = Tensor.fromHost(engine, data, [n, h, w, total], 'f32', 'other');
    const x = buf.slice(3, 0, cin);
    const out = buf.slice(3, cin, cin + cout);
    const wd = randomData(cout * 3 * 3 * cin, 501);
    const wt = Tensor.fromHost(engine, wd, [cout, 3, 3, cin], 'f32', 'params');
    const xd = new Float32Array(n * h * w * cin);
    for (let p = 0; p < n * h * w; p++) xd.set(data.subarray(p * total, p * total + cin), p * cin);
    const ref = conv2dCpu(hostTensor([n, h, w, cin], xd), hostTensor(wt.shape, wd), { padding: 1 });
    conv2d(x, wt, { padding: 1, out });
    const got = await buf.read();
    for (let p = 0; p < n * h * w; p++) {
      for (let ch = 0; ch < total; ch++) {
        const v = got[p * total + ch];
        if (ch >= cin) {
          const e = ref.data[p * cout + ch - cin];
          if (!(Math.abs(v - e) <= 1e-5 * (1 + Math.abs(e)))) expect.fail(`pixel ${p}, channel ${ch}: got ${v}, expected ${e}`);
        } else if (v !== data[p * total + ch]) expect.fail(`input pixel ${p}, channel ${ch} changed`);
      }
    }
    const overlapping = buf.slice(3, 8, 16);
    expect(() => conv2d(x, wt, { padding: 1, out: overlapping })).toThrow(/overlaps the input/);
    for (const t of [buf, x, out, wt, overlapping]) t.dispose();
  });

  it('allocates a new output of the right shape, dtype and category, the same way in meta mode', async () => {
    engine = await testEngine();
    const meta = Engine.meta();
    for (const e of [engine, meta]) {
      const x = Tensor.empty(e, [2, 10, 9, 8], 'f32', 'other');
      const w = Tensor.empty(e, [16, 3, 3, 8], 'f32', 'params');
      const before = e.stats().liveBytes;
      const y = conv2d(x, w, { stride: 2, padding: 1, category: 'workspace' });
      expect(y.shape).toEqual([2, 5, 5, 16]);
      expect(y.dtype).toBe('f32');
      expect(y.storage.category).toBe('workspace');
      expect(e.stats().liveBytes - before).toBeGreaterThanOrEqual(2 * 5 * 5 * 16 * 4);
      const y16 = conv2d(x, w, { outDtype: 'f16' });
      expect([y16.shape, y16.dtype]).toEqual([[2, 8, 7, 16], 'f16']);
      for (const t of [x, w, y, y16]) t.dispose();
      expect(e.stats().liveBytes).toBe(0);
    }
    meta.destroy();
  });

  it('rejects bad shapes with messages naming the op and the shapes', async () => {
    engine = await testEngine();
    const x = Tensor.empty(engine, [1, 4, 4, 6], 'f32', 'other');
    const w = Tensor.empty(engine, [8, 3, 3, 4], 'f32', 'other');
    const w3 = Tensor.empty(engine, [8, 3, 3, 6], 'f32', 'other');
    const bad = Tensor.empty(engine, [1, 4, 4, 8], 'f32', 'other');
    const bias = Tensor.empty(engine, [7], 'f32', 'other');
    expect(() => conv2d(x, w, { groups: 2 })).toThrow(/conv2d: .*need a weight of \[8,KH,KW,3\]/);
    expect(() => conv2d(x, w3, { out: bad })).toThrow(/conv2d: out has shape \[1,4,4,8\], expected \[1,2,2,8\]/);
    expect(() => conv2d(x, w3, { bias })).toThrow(/conv2d: bias must be a contiguous float \[8\]/);
    expect(() => conv2d(x, w3, { padding: 0, stride: 1, variant: '128x128:8x8:8x' })).toThrow(/conv2d: variant/);
    const x1 = Tensor.empty(engine, [1, 2, 2, 6], 'f32', 'other');
    expect(() => conv2d(x1, w3)).toThrow(/does not fit a 2x2 input/);
    for (const t of [x, w, w3, bad, bias, x1]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
