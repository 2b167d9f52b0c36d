import { expect, vi } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import type { DType } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/io/half.js';
import { copyInto as copyIntoForTests } from '../../src/kernels/copy.js';

let shared: Engine | null = null;

/**
 * One real engine per test file (vitest runs each file in its own process); a new one
 * is opened if a test destroyed the previous one.
 */
export async function testEngine(): Promise<Engine> {
  if (!shared || shared.isDestroyed) shared = await Engine.open();
  return shared;
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi): never zeros-only, never all equal. */
export function randomData(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Values as the GPU holds them in `dtype` (f16 rounds), so references see the same inputs. */
export function asStored(data: Float32Array, dtype: DType): Float32Array {
  return dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(data)) : data;
}

export type Layout = 'contiguous' | 'sliced' | 'permuted';

/**
 * A tensor holding `data` (row-major over `shape`) in the requested layout:
 * `sliced` puts it in a window of a larger tensor (strides skip padding, offset > 0),
 * `permuted` stores it transposed and returns a permuted view. Padding is filled with
 * large poison values so a kernel that reads outside its view fails the comparison.
 */
export function tensorWithLayout(engine: Engine, data: Float32Array, shape: number[], dtype: DType, layout: Layout): Tensor {
  if (layout === 'contiguous' || shape.length === 0) return Tensor.fromHost(engine, data, shape, dtype, 'other');
  if (layout === 'sliced') {
    const padded = shape.map((d, i) => (i === shape.length - 1 ? d + 3 : d + (i === 0 ? 1 : 0)));
    const host = new Float32Array(padded.reduce((a, b) => a * b, 1)).fill(1000);
    const base = Tensor.fromHost(engine, host, padded, dtype, 'other');
    // Write the data into the window [1.., 2..] through a contiguous staging tensor and a strided copy.
    let view = base;
    const starts = padded.map((d, i) => (i === shape.length - 1 ? 2 : i === 0 ? 1 : 0));
    for (let i = 0; i < shape.length; i++) {
      const next = view.slice(i, starts[i], starts[i] + shape[i]);
      if (view !== base) view.dispose();
      view = next;
    }
    base.dispose();
    const staging = Tensor.fromHost(engine, data, shape, dtype, 'other');
    copyIntoForTests(staging, view);
    staging.dispose();
    return view;
  }
  // permuted: store with axes reversed, view them back.
  const rank = shape.length;
  const reversed = [...shape].reverse();
  const host = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    let rem = i;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k] = rem % shape[k];
      rem = Math.floor(rem / shape[k]);
    }
    let at = 0;
    for (let k = rank - 1; k >= 0; k--) at = at * shape[k] + idx[k];
    host[at] = data[i];
  }
  const stored = Tensor.fromHost(engine, host, reversed, dtype, 'other');
  const view = stored.permute([...Array(rank).keys()].reverse());
  stored.dispose();
  return view;
}

export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i] - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Element-wise |a - e| <= atol + rtol |e|, reporting the first offending index. NaN never passes. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = rtol): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Number.isNaN(e) ? Number.isNaN(a) : Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) expect.fail(`element ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Float dtypes to test on this engine (f16 only where the adapter has shader-f16). */
export function floatDtypes(engine: Engine): DType[] {
  return engine.features.shaderF16 ? ['f32', 'f16'] : ['f32'];
}

/** Runs `body` and returns the keys of the kernels the engine launched meanwhile, in order. */
export async function launchedKernels(engine: Engine, body: () => Promise<void>): Promise<string[]> {
  const keys: string[] = [];
  const original = engine.run.bind(engine);
  const run = vi.spyOn(engine, 'run').mockImplementation((...args) => {
    keys.push(args[0].key);
    original(...args);
  });
  try {
    await body();
  } finally {
    run.mockRestore();
  }
  return keys;
}
