import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { copy } from '../../src/kernels/copy.js';
import { EmaBatch } from '../../src/kernels/ema-batch.js';
import { emaUpdateCpu } from '../../src/kernels/optimizer.cpu.js';
import { expectClose, randomData } from '../helpers/gpu.js';

const bits = async (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(await t.read()).buffer));

describe('EmaBatch', () => {
  it('blends every average toward its value as the CPU reference, and as pair-by-pair batches bit for bit, across segments and within one storage', async () => {
    // Small segments: the pairs spread over several, so groups of one, two and three distinct buffers occur.
    const engine = await Engine.open({ segmentBytes: 64 * 1024 });
    const sizes = [1, 37, 1023, 1024, 1025, 4097, 9000, 3, 20011 % 16384];
    const make = (seed: number) => sizes.map((n, i) => Tensor.fromHost(engine, randomData(n, seed + i), [n], 'f32', 'params'));
    const emas = make(10);
    const values = make(50);
    // Views at offsets inside one larger tensor: an average and its value in the same storage.
    const big = Tensor.fromHost(engine, randomData(3000, 90), [3000], 'f32', 'params');
    emas.push(big.slice(0, 1500, 3000));
    values.push(big.slice(0, 0, 1500));
    const expected = emas.map((e) => copy(e, 'other'));
    const expectedValues = values.map((v) => copy(v, 'other'));
    const singles = expected.map((e, i) => new EmaBatch(engine, [e], [expectedValues[i]]));
    const reference = await Promise.all(emas.map(async (e) => Float64Array.from(await e.read())));
    const referenceValues = await Promise.all(values.map(async (v) => Float64Array.from(await v.read())));
    const groups = new Set(emas.map((e, i) => `${e.storage.allocation.segment}:${values[i].storage.allocation.segment}`)).size;
    expect(groups).toBeGreaterThan(1);
    expect(groups).toBeLessThan(emas.length);
    const batch = new EmaBatch(engine, emas, values);
    for (const decay of [0.25, 0.9999 * (1 - Math.exp(-3 / 2000))]) {
      singles.forEach((b) => b.update(decay));
      reference.forEach((r, i) => emaUpdateCpu(r, referenceValues[i], decay));
      const before = engine.counters().dispatches;
      batch.update(decay);
      expect(engine.counters().dispatches - before).toBe(groups); // one per pair of segments
      for (let i = 0; i < emas.length; i++) {
        expect(await bits(emas[i])).toEqual(await bits(expected[i]));
        expectClose(await emas[i].read(), reference[i], 1e-6);
      }
    }
    expect(batch.covers(emas, values)).toBe(true);
    expect(batch.covers(emas, [...values].reverse())).toBe(false);
    expect(() => new EmaBatch(engine, [big.slice(0, 0, 3000, 2)], [values[5].slice(0, 0, 1500)])).toThrow(/pair 0 is not two contiguous f32 tensors/);
    batch.dispose();
    singles.forEach((b) => b.dispose());
    engine.destroy();
  });
});
