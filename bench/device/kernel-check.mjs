// The harness of the kernel scripts for the GPU host (elementwise-reduce.mjs, pool-softmax-gather.mjs, conv-tc.mjs, wgrad.mjs):
// checks against float64 CPU references with a tolerance score, bandwidth timings, and the JSON
// report. `--small` shrinks sizes for a dry run on a CPU driver; `--out PATH` writes the report.
import { writeFileSync } from 'node:fs';
import { Engine } from '../../dist/src/gpu/engine.js';
import { convGeometry } from '../../dist/src/kernels/conv2d.js';
import { benchData, medianMs } from '../../dist/src/kernels/bench/timing.js';
import { f16BitsToF32, f32ToF16Bits } from '../../dist/src/io/half.js';

export { benchData };
export const small = process.argv.includes('--small');
const outAt = process.argv.indexOf('--out');
const outPath = outAt >= 0 ? process.argv[outAt + 1] : null;
export const engine = await Engine.open();
export const dtypes = engine.features.shaderF16 ? ['f32', 'f16'] : ['f32'];
/** The values as a tensor of `dtype` stores them. */
export const stored = (data, dtype) => (dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(data)) : data);
export const size = (shape) => shape.reduce((a, b) => a * b, 1);

/** Shapes of a conv check case { n, h, w, cin, cout, k, s, p, g }: input xs, weight ws, conv options o, output ys. */
export function convCase(c) {
  const xs = [c.n, c.h, c.w, c.cin];
  const ws = [c.cout, c.k, c.k, c.cin / c.g];
  const o = { stride: c.s, padding: c.p, groups: c.g };
  const geo = convGeometry(xs, ws, o);
  return { xs, ws, o, ys: [c.n, geo.ho, geo.wo, c.cout] };
}
const report = { device: engine.gpu?.adapterInfo ?? null, checks: [], timings: [] };
const reps = small ? 3 : 20;

/** Max |got - want| / (atol + rtol |want|) over all elements (<= 1 passes; NaN must match NaN). */
function score(got, want, rtol, atol) {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i], want[i]];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) return Infinity;
      continue;
    }
    const d = Math.abs(g - w);
    if (d > 0) worst = Math.max(worst, d / (atol + rtol * Math.abs(w)));
  }
  return worst;
}

/** Records a check's score (error / tolerance; <= 1 passes). */
export function record(name, s) {
  report.checks.push({ name, score: s, ok: s <= 1 });
  console.log(`${s <= 1 ? 'ok  ' : 'FAIL'} ${name} (error/tolerance ${s.toFixed(3)})`);
}

export async function check(name, tensor, want, rtol, atol = rtol) {
  record(name, score(await tensor.read(), want, rtol, atol));
}

/** Median time of `run` and its effective bandwidth (`bytes` read + written). */
export async function time(name, bytes, run) {
  const ms = await medianMs(engine, run, reps);
  report.timings.push({ name, ms, gbps: bytes / ms / 1e6 });
  console.log(`${name.padEnd(64)} ${ms.toFixed(4).padStart(9)} ms ${(bytes / ms / 1e6).toFixed(1).padStart(7)} GB/s`);
}

/** Prints the summary, writes the report, exits non-zero when a check failed. */
export function finish() {
  const failed = report.checks.filter((c) => !c.ok).length;
  console.log(`${report.checks.length - failed}/${report.checks.length} checks passed`);
  if (outPath) writeFileSync(outPath, JSON.stringify(report, null, 2));
  engine.destroy();
  process.exit(failed ? 1 : 0);
}
