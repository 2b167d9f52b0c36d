import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';
import { hostTensor, type HostTensor } from '../../src/kernels/host-tensor.js';
import { matmul, matmulPath, type MatmulOptions } from '../../src/kernels/matmul.js';
import { matmulCpu } from '../../src/kernels/matmul.cpu.js';
import { asStored, expectClose, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { withEmulatedSubgroupMatrix } from '../helpers/subgroup-matrix-emulation.js';

interface Case {
  a: number[];
  b: number[];
  dtype: DType;
  bDtype?: DType;
  layoutA?: Layout;
  layoutB?: Layout;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: DType;
  outDtype?: DType;
  /** Accumulate into a window of a larger, pre-filled output: C = alpha A B + beta C. */
  accumulate?: { alpha: number; beta: number };
  /** Write into a plain contiguous (NaN-filled) output instead of a window of a padded one. */
  plainOut?: boolean;
  variant?: string;
  path?: MatmulOptions['path'];
}

const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

/** f32 outputs: f32 accumulation error over K terms of magnitude <= 1; f16 outputs: half an f16 ulp more. */
function tolerance(k: number, out: DType): { rtol: number; atol: number } {
  return out === 'f16' ? { rtol: 1e-3, atol: 1e-3 } : { rtol: 1e-5, atol: 2e-6 * Math.max(1, k / 8) };
}

/**
 * Runs one product on the GPU and on the CPU (float64, on the same f16-rounded inputs) and
 * compares every element. The output starts poisoned (NaN), or, when accumulating, as
 * random values in a window of a larger tensor whose border must stay untouched.
 */
async function check(engine: Engine, c: Case, seed: number): Promise<Float32Array> {
  const bDtype = c.bDtype ?? c.dtype;
  const da = asStored(randomData(size(c.a), seed), c.dtype);
  const db = asStored(randomData(size(c.b), seed + 1), bDtype);
  const a = tensorWithLayout(engine, da, c.a, c.dtype, c.layoutA ?? 'contiguous');
  const b = tensorWithLayout(engine, db, c.b, bDtype, c.layoutB ?? 'contiguous');
  const n = c.transposeB ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
  const k = c.transposeB ? c.b[c.b.length - 1] : c.b[c.b.length - 2];
  const biasData = c.bias ? asStored(randomData(n, seed + 2), c.bias) : undefined;
  // The bias is a strided view (every other element of a longer vector).
  const biasBase = c.bias ? Tensor.fromHost(engine, Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? 1000 : biasData![i / 2])), [2 * n], c.bias, 'other') : undefined;
  const bias = biasBase?.slice(0, 0, 2 * n, 2);
  const outDtype = c.outDtype ?? 'f32';
  const probe = matmulCpu(hostTensor(c.a, da), hostTensor(c.b, db), { transposeA: c.transposeA, transposeB: c.transposeB });
  const shape = probe.shape;

  // Output: a window [.., 1:1+M, 2:2+N] of a padded tensor, filled with NaN (or random values when accumulating).
  const padded = c.plainOut ? shape : shape.map((d, i) => (i === shape.length - 1 ? d + 3 : i === shape.length - 2 ? d + 1 : d));
  const initial = asStored(randomData(size(padded), seed + 3), outDtype);
  const base = Tensor.fromHost(engine, c.accumulate ? initial : new Float32Array(size(padded)).fill(NaN), padded, outDtype, 'other');
  const [r0, c0] = c.plainOut ? [0, 0] : [1, 2];
  const rows = base.slice(-2, r0, r0 + shape[shape.length - 2]);
  const out = rows.slice(-1, c0, c0 + shape[shape.length - 1]);
  rows.dispose();
  const prior: HostTensor = hostTensor(shape, await out.read());

  const result = matmul(a, b, {
    transposeA: c.transposeA, transposeB: c.transposeB, bias, out, variant: c.variant, path: c.path,
    alpha: c.accumulate?.alpha, beta: c.accumulate?.beta,
  });
  expect(result).toBe(out);
  const expected = matmulCpu(hostTensor(c.a, da), hostTensor(c.b, db), {
    transposeA: c.transposeA, transposeB: c.transposeB, bias: biasData, alpha: c.accumulate?.alpha, beta: c.accumulate?.beta, c: prior,
  });
  const { rtol, atol } = tolerance(k, outDtype);
  const got = (await out.read()) as Float32Array;
  expectClose(got, expected.data, rtol, atol);
  // The border of the padded output is untouched.
  const all = await base.read();
  const [pr, pc] = padded.slice(-2);
  for (let i = 0; i < all.length; i++) {
    const r = Math.floor(i / pc) % pr;
    const col = i % pc;
    if (r >= r0 && r < r0 + shape[shape.length - 2] && col >= c0 && col < c0 + shape[shape.length - 1]) continue;
    if (c.accumulate) expect(all[i]).toBe(initial[i]);
    else expect(Number.isNaN(all[i]), `border element ${i} was written`).toBe(true);
  }
  for (const t of [a, b, base, out, ...(bias ? [bias, biasBase!] : [])]) t.dispose();
  return got;
}

// Each distinct kernel variant (tile, operand plans, dtypes, epilogue) costs ~2 s of cold
// compilation on lavapipe: cases are chosen to cover many features per variant.
describe('matmul (SIMT)', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches the CPU reference on odd sizes', async () => {
    engine = await testEngine();
    let seed = 1;
    for (const [m, n, k] of [[1, 1, 1], [7, 33, 65], [130, 65, 7], [33, 130, 1], [65, 7, 130]]) {
      await check(engine, { a: [m, k], b: [k, n], dtype: 'f32' }, (seed += 10));
    }
    // Aligned: vec4 loads and stores.
    await check(engine, { a: [64, 64], b: [64, 64], dtype: 'f32', plainOut: true }, (seed += 10));
  });

  it('reads transposed, sliced and permuted operands', async () => {
    engine = await testEngine();
    let seed = 100;
    const cases: [Layout, Layout, boolean, boolean][] = [
      ['sliced', 'sliced', false, false],
      ['sliced', 'permuted', true, true],
      ['permuted', 'sliced', true, false],
      ['permuted', 'permuted', false, true],
    ];
    for (const [layoutA, layoutB, transposeA, transposeB] of cases) {
      const a = transposeA ? [33, 7] : [7, 33];
      const b = transposeB ? [65, 33] : [33, 65];
      await check(engine, { a, b, dtype: 'f32', layoutA, layoutB, transposeA, transposeB }, (seed += 10));
    }
    // Aligned transposed operands: vec4 loads along m (A) and k (B).
    await check(engine, { a: [36, 64], b: [68, 36], dtype: 'f32', transposeA: true, transposeB: true }, (seed += 10));
  });

  it('batches, broadcasts a batch of one, adds a bias and accumulates with alpha and beta', async () => {
    engine = await testEngine();
    await check(engine, { a: [3, 17, 9], b: [3, 9, 21], dtype: 'f32' }, 200);
    await check(engine, { a: [1, 17, 9], b: [4, 9, 21], dtype: 'f32', layoutA: 'sliced' }, 210);
    await check(engine, { a: [3, 17, 9], b: [9, 21], dtype: 'f32', layoutB: 'sliced', bias: 'f32' }, 220);
    await check(engine, { a: [17, 9], b: [3, 21, 9], dtype: 'f32', layoutB: 'permuted', transposeB: true, bias: 'f32', accumulate: { alpha: -1.5, beta: 0.5 } }, 230);
  });

  it('takes f16 inputs and writes f16 or f32', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    await check(engine, { a: [64, 36], b: [36, 64], dtype: 'f16', outDtype: 'f32', plainOut: true }, 400);
    await check(engine, { a: [65, 33], b: [30, 65], dtype: 'f16', outDtype: 'f16', layoutA: 'sliced', layoutB: 'permuted', transposeA: true, transposeB: true, bias: 'f16' }, 410);
    await check(engine, { a: [2, 7, 33], b: [33, 9], dtype: 'f32', bDtype: 'f16', outDtype: 'f16', accumulate: { alpha: 1, beta: 1 } }, 420);
  });

  it('runs the large tile (double-buffered) and a single-buffered one', async () => {
    engine = await testEngine();
    // 128x128 is the large-problem tile; its cold compile on lavapipe takes ~10 s.
    await check(engine, { a: [130, 40], b: [40, 129], dtype: 'f32', variant: '128x128x8' }, 500);
    await check(engine, { a: [40, 130], b: [129, 40], dtype: 'f32', variant: '64x64x16/1', transposeA: true, transposeB: true, layoutA: 'sliced' }, 510);
  });

  it('multiplies a tensor by its own transpose (one binding for both operands)', async () => {
    engine = await testEngine();
    const data = randomData(9 * 13, 600);
    const x = Tensor.fromHost(engine, data, [9, 13], 'f32', 'other');
    const gram = matmul(x, x, { transposeB: true });
    const expected = matmulCpu(hostTensor([9, 13], data), hostTensor([9, 13], data), { transposeB: true });
    expectClose(await gram.read(), expected.data, 1e-5, 1e-5);
    for (const t of [x, gram]) t.dispose();
  });

  it('is deterministic: the same inputs give the same bits', async () => {
    engine = await testEngine();
    const a = Tensor.fromHost(engine, randomData(64 * 300, 700), [64, 300], 'f32', 'other');
    const b = Tensor.fromHost(engine, randomData(300 * 64, 701), [300, 64], 'f32', 'other');
    const x = matmul(a, b);
    const y = matmul(a, b);
    expect(Array.from(await x.read())).toEqual(Array.from(await y.read()));
    for (const t of [a, b, x, y]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('validates shapes, dtypes and options', async () => {
    engine = await testEngine();
    const a = Tensor.fromHost(engine, randomData(6, 800), [2, 3], 'f32', 'other');
    const b = Tensor.fromHost(engine, randomData(12, 801), [3, 4], 'f32', 'other');
    const i = Tensor.empty(engine, [3, 2], 'i32', 'other');
    const live = engine.stats().liveBytes;
    expect(() => matmul(a, a)).toThrow(/matmul: inner dimensions differ \(3 vs 2\)/);
    expect(() => matmul(a, i)).toThrow(/matmul: B must be f32 or f16/);
    expect(() => matmul(a, b, { beta: 1 })).toThrow(/matmul: beta needs an existing out/);
    expect(() => matmul(a, b, { bias: a })).toThrow(/matmul: bias must be \[4\]/);
    expect(() => matmul(a, b, { out: a })).toThrow(/matmul: out has shape \[2,3\], expected \[2,4\]/);
    expect(() => matmul(a, b, { variant: '32x32x8' })).toThrow(/matmul: unknown SIMT variant/);
    if (!engine.features.subgroupMatrix) expect(() => matmul(a, b, { path: 'subgroup-matrix' })).toThrow(/matmul: the subgroup-matrix path needs/);
    expect(engine.stats().liveBytes).toBe(live); // nothing leaked by the throws
    for (const t of [a, b, i]) t.dispose();
  });

  it('allocates only its output, identically in meta mode', () => {
    const meta = Engine.meta();
    const a = Tensor.empty(meta, [64, 48], 'f16', 'other');
    const b = Tensor.empty(meta, [48, 32], 'f16', 'other');
    const before = meta.stats().liveBytes;
    const c = matmul(a, b, { outDtype: 'f32' });
    expect(c.shape).toEqual([64, 32]);
    expect(meta.stats().liveBytes - before).toBe(64 * 32 * 4); // the output, no workspace left behind
    c.dispose();
    expect(meta.stats().liveBytes).toBe(before);
    for (const t of [a, b]) t.dispose();
  });
});

describe('matmul (subgroup matrix, emulated)', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('takes the SIMT path without subgroup matrices and the tensor-core path with them', async () => {
    engine = await testEngine();
    if (!engine.features.subgroupMatrix) expect(matmulPath(engine, 'f16', 'f16')).toBe('simt');
    const emulated = withEmulatedSubgroupMatrix(engine, { M: 16, N: 16, K: 16 });
    expect(matmulPath(emulated.engine, 'f16', 'f16')).toBe('subgroup-matrix');
    expect(matmulPath(emulated.engine, 'f32', 'f16')).toBe('simt');
    expect(matmulPath(emulated.engine, 'f32', 'f32')).toBe('simt');
    emulated.release();
  });

  it('matches the CPU reference with 16x16x16 fragments: edges, batch broadcast, direct and element-wise stores', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16 || !engine.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(engine, { M: 16, N: 16, K: 16 });
    const e = emulated.engine;
    // 2x2 subgroups of 2x2 fragments: interior tiles store fragments straight to C, edge tiles go element-wise.
    const variant = '2x2:32x32:32';
    await check(e, { a: [2, 130, 40], b: [40, 72], dtype: 'f16', variant, plainOut: true }, 900);
    const first = await check(e, { a: [70, 36], b: [36, 68], dtype: 'f16', variant, plainOut: true }, 910);
    expect(Array.from(await check(e, { a: [70, 36], b: [36, 68], dtype: 'f16', variant, plainOut: true }, 910))).toEqual(Array.from(first));
    expect(engine.stats().liveBytes).toBeGreaterThan(0); // the pool
    emulated.release();
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('matches the CPU reference with 8x8x8 fragments: transposed, accumulated, bias, f16 out', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16 || !engine.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(engine, { M: 8, N: 8, K: 8 });
    const e = emulated.engine;
    const variant = '2x2:16x16:16';
    const base = { dtype: 'f16', outDtype: 'f16', transposeA: true, transposeB: true, variant } as const;
    // Aligned transposed operands: vec4 staging along m (A) and k (B), column-major fragments.
    await check(e, { ...base, a: [36, 64], b: [40, 36], bias: 'f32', accumulate: { alpha: 0.5, beta: -1 } }, 920);
    // Gathered (unaligned, strided) operands share the staging code with the SIMT kernel; same variant, other plans.
    await check(e, { ...base, a: [33, 37], b: [30, 33], layoutA: 'sliced', layoutB: 'permuted', bias: 'f32', accumulate: { alpha: 1, beta: 2 } }, 930);
    emulated.release();
  });

  it('keeps tensor-core tiles within the invocation limit on 64-lane subgroups: defaults shrink, forced variants over it are rejected', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16 || !engine.features.subgroups) return;
    const emulated = withEmulatedSubgroupMatrix(engine, { M: 16, N: 16, K: 16 }, 64, { maxComputeInvocationsPerWorkgroup: 256 });
    const e = emulated.engine;
    // 132 batches: enough tiles for the large default (2 x 4 subgroups, 512 invocations), which halves to 2 x 2
    await check(e, { a: [132, 16, 32], b: [32, 16], dtype: 'f16', plainOut: true }, 940);
    expect(emulated.ran.at(-1)).toContain('/64:2x2x4x4x');
    const a = Tensor.empty(e, [64, 32], 'f16', 'other');
    const b = Tensor.empty(e, [32, 64], 'f16', 'other');
    expect(() => matmul(a, b, { variant: '2x4:64x64:32' })).toThrow('matmul: variant "2x4:64x64:32": 8 subgroups of 64 invocations exceed the device\'s 256 per workgroup');
    for (const t of [a, b]) t.dispose();
    emulated.release();
  });
});
