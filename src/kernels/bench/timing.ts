import type { Engine } from '../../gpu/engine.js';

/**
 * Median time of one launch of `run` in milliseconds. The GPU is first kept busy for
 * ~200 ms (clocks ramp up from idle only under sustained load; without this, short
 * kernels separated by host work are timed at idle clocks, ~5x slow on an H100), then
 * `reps` launches are recorded back to back. With timestamp queries each dispatch is
 * timed on the GPU (launch overhead excluded, as CUDA events would); otherwise the wall
 * clock of the whole batch is divided by `reps`.
 */
export async function medianMs(engine: Engine, run: () => void, reps: number): Promise<number> {
  const warmStart = performance.now();
  do {
    for (let i = 0; i < 5; i++) run();
    await engine.sync();
  } while (performance.now() - warmStart < 200);
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
