import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { OutOfMemoryError } from '../../src/gpu/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { copy, fill } from '../../src/kernels/copy.js';
import { binary } from '../../src/kernels/elementwise.js';
import { randomData, testEngine } from '../helpers/gpu.js';

/** A small sequence of ops with frees in between; returns every allocation offset it saw. */
function workload(engine: Engine): string[] {
  const seen: string[] = [];
  const note = (t: Tensor) => seen.push(`${t.storage.allocation.segment}:${t.storage.allocation.offset}`);
  const a = Tensor.empty(engine, [37, 53], 'f32', 'params');
  note(a);
  fill(a, 0.5);
  const aT = a.permute([1, 0]);
  const b = copy(aT, 'activations');
  aT.dispose();
  note(b);
  const bSlice = b.slice(1, 3, 30);
  const c = copy(bSlice, 'workspace', 'f16');
  note(c);
  bSlice.dispose();
  b.dispose();
  const d = Tensor.empty(engine, [300, 301], 'f32', 'activations');
  note(d);
  fill(d, 2);
  c.dispose();
  const dRows = d.slice(0, 7, 200, 3);
  const e = copy(dRows, 'grads');
  note(e);
  dRows.dispose();
  d.dispose();
  e.dispose();
  a.dispose();
  return seen;
}

describe('Engine', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('opens an adapter and reports features and limits', async () => {
    engine = await testEngine();
    expect(engine.gpu!.limits.maxStorageBufferBindingSize).toBeGreaterThan(2 ** 20);
    expect(typeof engine.features.shaderF16).toBe('boolean');
  });

  it('meta mode gives the same offsets, peak and breakdown as the real run', async () => {
    engine = await testEngine();
    engine.arena.resetPeak();
    const before = engine.stats();
    const realOffsets = workload(engine);
    await engine.sync();
    const real = engine.stats();
    const meta = Engine.meta(engine.metaDevice());
    // Start the meta arena from the same state: the shared test engine may hold earlier tensors.
    expect(before.liveBytes).toBe(0);
    const metaOffsets = workload(meta);
    expect(metaOffsets).toEqual(realOffsets);
    expect(meta.stats().peakBytes).toBe(real.peakBytes - before.liveBytes);
    expect(meta.stats().atPeak).toEqual(real.atPeak);
    expect(real.liveBytes).toBe(0);
  });

  it('repeating the same ops creates no new pipelines, bind groups or buffers', async () => {
    engine = await testEngine();
    workload(engine);
    await engine.sync();
    const first = engine.counters();
    for (let i = 0; i < 3; i++) workload(engine);
    await engine.sync();
    const after = engine.counters();
    expect(after.pipelines).toBe(first.pipelines);
    expect(after.bindGroups).toBe(first.bindGroups);
    expect(after.buffers).toBe(first.buffers);
    expect(after.dispatches).toBeGreaterThan(first.dispatches);
  });

  it('a budget turns over-allocation into OutOfMemoryError before the GPU is asked', async () => {
    const small = await Engine.open({ budgetBytes: 1 << 20, segmentBytes: 1 << 19 });
    try {
      const a = Tensor.empty(small, [100_000], 'f32', 'activations');
      const b = Tensor.empty(small, [100_000], 'f32', 'activations');
      expect(() => Tensor.empty(small, [100_000], 'f32', 'grads')).toThrow(OutOfMemoryError);
      a.dispose();
      b.dispose();
      expect(small.stats().liveBytes).toBe(0);
    } finally {
      small.destroy();
    }
  });

  it('round-trips host data through contiguous and strided reads', async () => {
    engine = await testEngine();
    const data = randomData(5 * 7 * 3, 1);
    const t = Tensor.fromHost(engine, data, [5, 7, 3], 'f32', 'other');
    expect(Array.from(await t.read())).toEqual(Array.from(data));
    const v = t.slice(1, 2, 6, 2).permute([2, 0, 1]);
    const got = await v.read();
    const expected: number[] = [];
    for (let c = 0; c < 3; c++) for (let i = 0; i < 5; i++) for (const j of [2, 4]) expected.push(data[(i * 7 + j) * 3 + c]);
    expect(Array.from(got)).toEqual(expected);
    v.dispose();
    t.dispose();
  });

  it('reads many views in one round trip, each as its own read gives it', async () => {
    engine = await testEngine();
    const data = randomData(5 * 7 * 3, 2);
    const t = Tensor.fromHost(engine, data, [5, 7, 3], 'f32', 'other');
    const h = Tensor.fromHost(engine, randomData(11, 3), [11], 'f16', 'other'); // odd f16 count: not word-aligned
    const views = [t, t.slice(1, 2, 6, 2).permute([2, 0, 1]), t.slice(0, 4, 5), h.slice(0, 3, 10), h, t.slice(0, 2, 2)];
    const one = [];
    for (const v of views) one.push(Array.from(await v.read()));
    const before = engine.counters().submits;
    const all = await Tensor.readAll(views);
    expect(engine.counters().submits - before).toBe(1);
    expect(all.map((a) => Array.from(a))).toEqual(one);
    t.dispose();
    h.dispose();
  });

  it('submits long recordings in pieces, the first soon after a wait, so the GPU starts before the host is done, with results in order', async () => {
    engine = await testEngine();
    const t = Tensor.fromHost(engine, [0, 1, 2], [3], 'f32', 'other');
    await t.read(); // the GPU has drained: the next submit comes after 16 dispatches, then 32, 64, 128, 256
    const before = engine.counters();
    const submitsAfter = (adds: number) => {
      for (let i = 0; i < adds; i++) binary('add', t, 1, { out: t });
      expect(engine.counters().dispatches - before.dispatches).toBeGreaterThanOrEqual(adds);
      return engine.counters().submits - before.submits;
    };
    expect(submitsAfter(15)).toBe(0);
    expect(submitsAfter(1)).toBe(1);
    expect(submitsAfter(584)).toBe(5); // at 16, 48, 112, 240 and 496 dispatches
    expect(Array.from(await t.read())).toEqual([600, 601, 602]);
    t.dispose();
  });

  it('profiles each dispatch with GPU timestamps when asked', async () => {
    engine = await testEngine();
    if (!engine.features.timestampQuery) return;
    engine.recorder!.setProfiling(true);
    const t = Tensor.empty(engine, [256, 256], 'f32', 'other');
    fill(t, 1);
    const u = copy(t, 'other', 'f16');
    const timings = await engine.recorder!.takeTimings();
    engine.recorder!.setProfiling(false);
    expect(timings.map((x) => x.name)).toEqual(['fill:f32', 'copy:f32->f16']);
    for (const x of timings) expect(x.ns).toBeGreaterThanOrEqual(0);
    t.dispose();
    u.dispose();
  });

  it('tags the timings of dispatches recorded inside tagged (the outer tag wins)', async () => {
    engine = await testEngine();
    if (!engine.features.timestampQuery) return;
    engine.setProfiling(true);
    const t = Tensor.empty(engine, [64], 'f32', 'other');
    fill(t, 1);
    const inner = engine.tagged('outer', () => {
      fill(t, 2);
      return engine.tagged('inner', () => copy(t, 'other', 'f16'));
    });
    fill(t, 3);
    const timings = await engine.kernelTimings();
    engine.setProfiling(false);
    expect(timings.map((x) => [x.name, x.tag])).toEqual([
      ['fill:f32', undefined],
      ['fill:f32', 'outer'],
      ['copy:f32->f16', 'outer'],
      ['fill:f32', undefined],
    ]);
    t.dispose();
    inner.dispose();
  });
});
