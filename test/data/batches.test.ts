import { describe, expect, it } from 'vitest';
import { epochOrder, maxMultiScaleSize, multiScaleShape, multiScaleSize, partnerPool, rectBatches } from '../../src/data/batches.js';
import { Rng } from '../../src/data/rng.js';

describe('rect batches', () => {
  const shapes: [number, number][] = [
    [480, 640],
    [640, 480],
    [427, 640],
    [640, 640],
    [100, 400],
  ];

  it('sorts by aspect ratio and sizes batches as ceil(shape·imgsz/stride + pad)·stride', () => {
    const val = rectBatches(shapes, 2, 640, 32, 0.5);
    expect(val.order).toEqual([4, 2, 0, 3, 1]);
    // [0.25, 0.667] -> [0.667, 1]: ceil(13.33 + 0.5) = 14 -> 448; ceil(20.5) = 21 -> 672
    // [0.75, 1] -> [1, 1] -> 672; [1.333] -> [1, 1/1.333 = 0.75] -> 672 x ceil(15.5) = 16 -> 512
    expect(val.shapes).toEqual([
      [448, 672],
      [672, 672],
      [672, 512],
    ]);
    const train = rectBatches(shapes, 2, 640, 32, 0);
    expect(train.shapes).toEqual([
      [448, 640],
      [640, 640],
      [640, 480],
    ]);
  });
});

describe('epoch order and multi-scale', () => {
  it('is a permutation per (seed, epoch), identity without shuffle', () => {
    const a = epochOrder(100, 0, 3, true);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(epochOrder(100, 0, 3, true))).toEqual(Array.from(a));
    expect(Array.from(epochOrder(100, 0, 4, true))).not.toEqual(Array.from(a));
    expect(Array.from(epochOrder(5, 0, 3, false))).toEqual([0, 1, 2, 3, 4]);
  });

  it('draws per-batch sizes in [imgsz/2, 1.5·imgsz] on the stride (8.3 multi_scale)', () => {
    const sizes = new Set<number>();
    for (let b = 0; b < 300; b++) {
      const s = multiScaleSize(0, 1, b, 640, 32, 0.5);
      expect(s % 32).toBe(0);
      expect(s).toBeGreaterThanOrEqual(320);
      expect(s).toBeLessThanOrEqual(960);
      expect(multiScaleSize(0, 1, b, 640, 32, 0.5)).toBe(s);
      sizes.add(s);
    }
    expect(sizes.size).toBeGreaterThan(15);
    expect(maxMultiScaleSize(640, 32, 0.5)).toBe(960);
    expect(multiScaleSize(0, 1, 0, 640, 32, 0)).toBe(640);
    expect(multiScaleShape([640, 640], 320, 32)).toEqual([320, 320]);
    expect(multiScaleShape([448, 640], 800, 32)).toEqual([576, 800]);
  });

  it('partner pools: the batch itself, widened at the end', () => {
    const order = [9, 8, 7, 6, 5, 4, 3];
    expect(partnerPool(order, 0, 3)).toEqual([9, 8, 7]);
    expect(partnerPool(order, 6, 3)).toEqual([5, 4, 3]);
  });
});

describe('Rng', () => {
  it('derives independent reproducible streams and saves state', () => {
    const a = Rng.derive(0, 1, 2);
    const b = Rng.derive(0, 1, 2);
    const c = Rng.derive(0, 2, 1);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(xs);
    const state = a.getState();
    const next = a.random();
    expect(Rng.fromState(state).random()).toBe(next);
    // Large and negative keys are fine; non-integers are refused.
    expect(() => Rng.derive(6148914691236517, -3)).not.toThrow();
    expect(() => Rng.derive(0.5)).toThrow(RangeError);
  });

  it('has sane moments', () => {
    const r = new Rng(7);
    let u = 0;
    let beta = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      u += r.random();
      beta += r.beta(32, 32);
    }
    expect(u / n).toBeCloseTo(0.5, 1);
    expect(beta / n).toBeCloseTo(0.5, 2);
    const ints = new Set(Array.from({ length: 1000 }, () => r.int(3, 7)));
    expect([...ints].sort()).toEqual([3, 4, 5, 6]);
  });
});
