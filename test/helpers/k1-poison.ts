import { expect } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import type { DType } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fill } from '../../src/kernels/copy.js';
import { u32Bits } from '../../src/kernels/strided.js';

/**
 * The 32-bit word 0x7e007e00: a huge f32 (4.3e37), two f16 NaNs, a huge i32. Memory
 * filled with it makes any output element a kernel forgets to write fail a comparison,
 * whatever the output dtype.
 */
export const POISON_WORD = u32Bits(0x7e007e00);

/** A tensor filled with the poison word (as f32 storage reinterpreted in place for other dtypes). */
export function poisoned(engine: Engine, shape: number[], dtype: DType): Tensor {
  const t = Tensor.empty(engine, shape, dtype, 'other');
  if (dtype === 'f32') fill(t, POISON_WORD);
  else if (dtype === 'f16') fill(t, Number.NaN);
  else fill(t, dtype === 'i32' ? 2113961472 : 0x7e007e00);
  return t;
}

export interface PoisonedRegion {
  segment: number;
  start: number;
  end: number;
}

/**
 * Poisons the arena memory that the next allocations will take: allocates `bytes`,
 * fills them with the poison word and frees them again. The arena is deterministic
 * best-fit, so the next allocations land there; `expectInPoisoned` checks it did.
 */
export function poisonAhead(engine: Engine, bytes: number): PoisonedRegion {
  const t = Tensor.empty(engine, [Math.ceil(bytes / 4)], 'f32', 'other');
  fill(t, POISON_WORD);
  const a = t.storage.allocation;
  const region = { segment: a.segment, start: a.offset, end: a.offset + a.size };
  t.dispose();
  return region;
}

export function expectInPoisoned(region: PoisonedRegion, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    const a = t.storage.allocation;
    expect(a.segment === region.segment && a.offset >= region.start && a.offset + a.size <= region.end, 'output landed in poisoned memory').toBe(true);
  }
}
