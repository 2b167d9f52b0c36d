import type { Engine } from '../../gpu/engine.js';

/**
 * Median time of one launch of `run` in milliseconds: GPU timestamps around each
 * dispatch when the adapter has them (launch overhead excluded, as CUDA events would),
 * else wall clock around a synchronized batch. Runs `warmup` untimed launches first.
 */
export async function medianMs(engine: Engine, run: () => void, reps: number, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) run();
  await engine.sync();
  const recorder = engine.recorder!;
  if (engine.features.timestampQuery) {
    recorder.setProfiling(true);
    const perRep: number[] = [];
    for (let i = 0; i < reps; i++) {
      run();
      const timings = await recorder.takeTimings();
      perRep.push(timings.reduce((s, t) => s + t.ns, 0) / 1e6);
    }
    recorder.setProfiling(false);
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
