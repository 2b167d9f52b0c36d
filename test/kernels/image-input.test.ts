import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { imagesToTensor } from '../../src/kernels/image-input.js';
import { asStored, expectClose, floatDtypes, testEngine } from '../helpers/gpu.js';

describe('imagesToTensor', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('expands packed bytes to [0, 1] floats, any length (not a multiple of 4)', async () => {
    engine = await testEngine();
    const shape = [2, 5, 3, 3];
    const bytes = Uint8Array.from({ length: 90 }, (_, i) => (i * 37 + 11) % 256);
    for (const dtype of floatDtypes(engine)) {
      const t = imagesToTensor(engine, bytes, shape, dtype);
      expect(t.shape).toEqual(shape);
      const ref = asStored(Float32Array.from(bytes, (b) => b / 255), dtype);
      expectClose(await t.read(), ref, 1e-6);
      t.dispose();
    }
  });

  it('reads whole words in place, and copies a view at an odd byte offset', async () => {
    engine = await testEngine();
    const shape = [2, 4, 3, 3]; // 72 bytes: whole words
    const backing = Uint8Array.from({ length: 73 }, (_, i) => (i * 53 + 7) % 256);
    for (const bytes of [backing.subarray(0, 72), backing.subarray(1, 73)]) {
      const t = imagesToTensor(engine, bytes, shape, 'f32');
      expectClose(await t.read(), Float32Array.from(bytes, (b) => b / 255), 1e-6);
      t.dispose();
    }
  });

  it('rejects a byte count that does not match the shape', async () => {
    engine = await testEngine();
    expect(() => imagesToTensor(engine, new Uint8Array(10), [1, 2, 2, 3])).toThrow(/10 bytes for a batch of shape \[1,2,2,3\]/);
  });
});
