// Test helpers of the pool / upsample / softmax / gather kernels.
import { expect } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import type { DType } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';

/** A contiguous tensor filled with NaN (or `value`), so elements a kernel fails to write show up. */
export function filled(engine: Engine, shape: readonly number[], dtype: DType, value = NaN): Tensor {
  const t = Tensor.empty(engine, shape, dtype, 'other');
  fill(t, value);
  return t;
}

/**
 * A concat buffer [..., before + c + after] filled with `value`, and the channel slice
 * [before, before + c) of it that a producer writes into.
 */
export function channelSlice(engine: Engine, shape: readonly number[], dtype: DType, before = 2, after = 3, value = 777): { buffer: Tensor; slice: Tensor } {
  const c = shape[shape.length - 1];
  const buffer = filled(engine, [...shape.slice(0, -1), before + c + after], dtype, value);
  return { buffer, slice: buffer.slice(-1, before, before + c) };
}

/** Checks that the channels of a `channelSlice` buffer outside the slice still hold `value`. */
export function expectUntouchedOutside(buffer: ArrayLike<number>, channels: number, before: number, c: number, value = 777): void {
  for (let i = 0; i < buffer.length; i++) {
    const ch = i % channels;
    if ((ch < before || ch >= before + c) && buffer[i] !== value) expect.fail(`element ${i} (channel ${ch}) outside the slice was overwritten: ${buffer[i]}`);
  }
}

/** The bit patterns of read-back values (NaN-safe bitwise comparison for determinism tests). */
export function bits(values: Float32Array | Int32Array | Uint32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}
