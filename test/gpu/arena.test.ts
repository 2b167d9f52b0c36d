import { describe, expect, it } from 'vitest';
import { Arena } from '../../src/gpu/arena.js';
import { OutOfMemoryError } from '../../src/gpu/errors.js';

function arena(budgetBytes: number | null = null): Arena {
  return new Arena({ segmentBytes: 4096, maxAllocationBytes: 16384, alignment: 256, budgetBytes });
}

describe('Arena', () => {
  it('aligns, reuses freed space best-fit and coalesces neighbours', () => {
    const a = arena();
    const x = a.alloc(100, 'activations');
    const y = a.alloc(600, 'activations');
    const z = a.alloc(256, 'grads');
    expect([x.offset, y.offset, z.offset]).toEqual([0, 256, 1024]);
    expect(x.size).toBe(256);
    a.free(y);
    // 700 bytes (768 aligned) fit the hole y left exactly, rather than the larger tail.
    const w = a.alloc(700, 'workspace');
    expect(w.offset).toBe(256);
    a.free(x);
    a.free(w);
    a.free(z);
    const big = a.alloc(4096, 'params');
    expect(big.offset).toBe(0);
    expect(a.stats().segments).toBe(1);
  });

  it('tracks live, peak and the breakdown at the peak per category', () => {
    const a = arena();
    const p = a.alloc(512, 'params');
    const t = a.alloc(1024, 'activations');
    a.free(t);
    const g = a.alloc(256, 'grads');
    const s = a.stats();
    expect(s.liveBytes).toBe(768);
    expect(s.peakBytes).toBe(1536);
    expect(s.atPeak.activations).toBe(1024);
    expect(s.atPeak.params).toBe(512);
    expect(s.atPeak.grads).toBe(0);
    expect(s.live.grads).toBe(256);
    a.resetPeak();
    expect(a.stats().peakBytes).toBe(768);
    a.free(p);
    a.free(g);
    expect(a.stats().liveBytes).toBe(0);
  });

  it('moves a live allocation to another category: live and peak bytes follow, the total does not change', () => {
    const a = arena();
    const g = a.alloc(1000, 'activations');
    a.alloc(256, 'grads');
    const total = a.stats().liveBytes;
    a.recategorize(g, 'grads');
    expect(a.stats().live.activations).toBe(0);
    expect(a.stats().live.grads).toBe(1024 + 256);
    expect(a.stats().peak.grads).toBe(1024 + 256);
    expect(a.stats().liveBytes).toBe(total);
    a.free(g);
    expect(a.stats().live.grads).toBe(256);
    expect(() => a.recategorize(g, 'params')).toThrow(/was freed/);
  });

  it('grows new segments, gives large requests their own, and releases empty ones', () => {
    const a = arena();
    const x = a.alloc(4096, 'activations');
    const y = a.alloc(8000, 'activations');
    expect(y.segment).toBe(1);
    expect(a.stats().reservedBytes).toBe(4096 + 8192);
    a.free(y);
    a.releaseEmptySegments();
    expect(a.stats().reservedBytes).toBe(4096);
    a.free(x);
  });

  it('raises OutOfMemoryError before exceeding the budget, and uses what is left of it', () => {
    const a = arena(6144);
    a.alloc(4096, 'activations');
    const rest = a.alloc(2048, 'activations');
    expect(rest.segment).toBe(1);
    expect(() => a.alloc(256, 'grads')).toThrow(OutOfMemoryError);
    expect(() => a.alloc(256, 'grads')).toThrow(/budget/);
  });

  it('refuses a single allocation larger than a binding with a clear message', () => {
    expect(() => arena().alloc(20000, 'activations')).toThrow(/largest binding/);
  });

  it('rejects double frees', () => {
    const a = arena();
    const x = a.alloc(10, 'other');
    a.free(x);
    expect(() => a.free(x)).toThrow(/twice/);
  });
});
