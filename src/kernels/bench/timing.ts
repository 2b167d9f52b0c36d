import type { Engine } from '../../gpu/engine.js';

/**
 * Median time of one launch of `run` in milliseconds. The GPU is first kept busy until
 * its batch times settle (clocks ramp up from idle only under sustained load; without this,
 * short kernels separated by host work are timed at idle clocks, ~5x slow on an H100), then
 * `reps` launches are recorded back to back. With timestamp queries each dispatch is
 * timed on the GPU (launch overhead excluded, as CUDA events would); otherwise the wall
 * clock of the whole batch is divided by `reps`.
 */
export async function medianMs(engine: Engine, run: () => void, reps: number): Promise<number> {
  // Warm for at least 200 ms and until two consecutive batches agree within 5% (clocks
  // climb for longer after seconds of host work), at most 2 s.
  const warmStart = performance.now();
  let previous = Infinity;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) run();
    await engine.sync();
    const batch = performance.now() - t0;
    const elapsed = performance.now() - warmStart;
    if ((elapsed >= 200 && Math.abs(batch - previous) <= 0.05 * previous) || elapsed >= 2000) break;
    previous = batch;
  }
  const recorder = engine.recorder!;
  if (engine.features.timestampQuery) {
    recorder.setProfiling(true);
    for (let i = 0; i < reps; i++) run();
    const timings = await recorder.takeTimings();
    recorder.setProfiling(false);
    const perRun = timings.length / reps;
    const perRep = Array.from({ length: reps }, (_, r) =>
      timings.slice(r * perRun, (r + 1) * perRun).reduce((s, t) => s + t.ns, 0) / 1e6,
    );
    return median(perRep);
  }
  const start = performance.now();
  for (let i = 0; i < reps; i++) run();
  await engine.sync();
  return (performance.now() - start) / reps;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Deterministic uniform values in [-1, 1) (never zeros: timing zeros flatters some hardware). */
export function benchData(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2 ** 31 - 1;
  }
  return out;
}
