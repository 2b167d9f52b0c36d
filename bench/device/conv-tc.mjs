// Tensor-core convolutions (conv2d's variant `sg`) on the GPU host (issue 4): first checks them
// against the float64 CPU references on awkward shapes (forward with f16 and f32 weights, input
// and weight gradients, default and large tiles), then times yolov8n's convolutions at batch B,
// 640x640, f16: per layer and operation (forward, input gradient, weight gradient) the SIMT
// default, the tensor-core default and the best of a set of tensor-core tiles; time-weighted totals.
//
//   node bench/device/conv-tc.mjs [--batch 16] [--seconds 90] [--small] [--out $OUT/checks.json] [--json $OUT/sweep.json]
//     [--variants $OUT/variants.json] [--cold]
// --cold evicts the GPU's L2 before every timed launch (a 256 MB fill, not counted), as in a training step where
// every operand comes from memory; without it the operands of repeated launches stay warm in L2.
// --variants writes the fastest kernel of every timed layer and operation as a table for
// `bench step --conv-variants` (keys: kernels/conv-variants.ts).
// Timing rows print as they finish; shapes left when --seconds have passed are skipped (totals cover the rows shown).
// Without subgroup matrices (a CPU driver) only the SIMT columns run.
// Harness (checks, report, --small for a dry run on a CPU driver): kernel-check.mjs.
import { readFileSync, writeFileSync } from 'node:fs';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { conv2d, convGeometry } from '../../dist/src/kernels/conv2d.js';
import { conv2dInputGrad, conv2dWeightGrad } from '../../dist/src/kernels/conv2d-backward.js';
import { conv2dCpu } from '../../dist/src/kernels/conv2d.cpu.js';
import { conv2dInputGradCpu, conv2dWeightGradCpu } from '../../dist/src/kernels/conv2d-backward.cpu.js';
import { convShapeKey } from '../../dist/src/kernels/conv-variants.js';
import { tileCandidates } from '../../dist/src/kernels/conv-tile-candidates.js';
import { fill } from '../../dist/src/kernels/copy.js';
import { hostTensor } from '../../dist/src/kernels/host-tensor.js';
import { subgroupFragment } from '../../dist/src/kernels/matmul.js';
import { benchData, check, convCase, engine, finish, size, small, stored } from './kernel-check.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const batch = arg('--batch', 16);
const jsonAt = args.indexOf('--json');
const variantsAt = args.indexOf('--variants');
const cold = args.includes('--cold');
const deadline = performance.now() + 1000 * arg('--seconds', 90);
const fragment = subgroupFragment(engine);
console.log(`tensor-core fragment: ${JSON.stringify(fragment)}`);
if (!fragment) console.log('this device has no f16 subgroup matrices: no checks, SIMT timings only');

// 1. Checks: odd sizes, strides, padding, groups, Cin 3, Cout not a multiple of 16, f32 weights.
const CASES = [
  { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, s: 1, p: 1, g: 1 },
  { n: 1, h: 13, w: 10, cin: 3, cout: 16, k: 3, s: 2, p: 1, g: 1 },
  { n: 2, h: 9, w: 11, cin: 32, cout: 80, k: 3, s: 1, p: 1, g: 1 },
  { n: 2, h: 7, w: 8, cin: 12, cout: 130, k: 1, s: 1, p: 0, g: 1 },
  { n: 1, h: 9, w: 9, cin: 16, cout: 8, k: 3, s: 1, p: 1, g: 2 },
  { n: 3, h: 33, w: 31, cin: 64, cout: 64, k: 3, s: 2, p: 1, g: 1 },
];
for (const [i, c] of (fragment ? CASES : []).entries()) {
  const { xs, ws, o, ys } = convCase(c);
  const xd = stored(benchData(size(xs), 10 + i), 'f16');
  const wd = stored(benchData(size(ws), 20 + i).map((v) => v / 2), 'f16');
  const dyd = stored(benchData(size(ys), 30 + i), 'f16');
  const x = Tensor.fromHost(engine, xd, xs, 'f16', 'input');
  const dy = Tensor.fromHost(engine, dyd, ys, 'f16', 'input');
  const label = `[${xs}] k${c.k} s${c.s} p${c.p} g${c.g} -> ${c.cout}`;
  const refY = conv2dCpu(hostTensor(xs, xd), hostTensor(ws, wd), o).data;
  for (const [wType, variant] of [['f16', 'sg'], ['f32', 'sg'], ['f16', 'sg:2x2:4x2:32']]) {
    const w = Tensor.fromHost(engine, wd, ws, wType, 'params');
    for (const outDtype of ['f32', 'f16']) {
      const y = conv2d(x, w, { ...o, outDtype, variant });
      await check(`conv2d ${label} (${wType} weight, ${outDtype} out, ${variant})`, y, refY, 2e-3, 2e-3);
      y.dispose();
    }
    w.dispose();
  }
  const w = Tensor.fromHost(engine, wd, ws, 'f16', 'params');
  const refDx = conv2dInputGradCpu(hostTensor(ys, dyd), hostTensor(ws, wd), xs, o).data;
  const refDw = conv2dWeightGradCpu(hostTensor(ys, dyd), hostTensor(xs, xd), ws, o).data;
  for (const [dv, wv] of [['sg', 'sg'], ['sg:2x2:4x2:32', 'sg:1x4:1x2:32']]) {
    const dx = conv2dInputGrad(dy, w, xs, { ...o, dtype: 'f32', variant: dv });
    await check(`input grad ${label} (${dv})`, dx, refDx, 2e-3, 2e-3);
    const dw = conv2dWeightGrad(dy, x, ws, { ...o, variant: wv });
    await check(`weight grad ${label} (${wv})`, dw, refDw, 2e-3, 2e-2);
    dx.dispose();
    dw.dispose();
  }
  for (const t of [x, dy, w]) t.dispose();
}

// 2. Timing: yolov8n's convolutions at batch B, f16 — forward, input gradient and weight gradient — each under
// the SIMT default, the tensor-core default and a set of tensor-core tiles generated for its shape. Shapes run in
// order of their MACs x count (the largest first), so a run cut by --seconds loses the least.
const shapes = JSON.parse(readFileSync(new URL('../shapes/yolov8n-convs.json', import.meta.url), 'utf8'))
  .filter((s) => s.groups === 1)
  .map((s) => ({ ...s, weight: s.count * s.cin * s.cout * s.k * s.k * (s.h / s.stride) * (s.w / s.stride) }))
  .sort((a, b) => b.weight - a.weight);
const reps = small ? 2 : 10;
const n = small ? 1 : batch;
const recorder = engine.recorder;

/** With --cold, a buffer larger than any GPU's L2 that is filled before each timed run. */
const flush = cold ? Tensor.empty(engine, [small ? 1 << 20 : 1 << 26], 'f32', 'workspace') : null;

/** Median GPU ms of one run(): every dispatch of `reps` runs timed with timestamp queries (the L2 flush left out). */
async function gpuMs(run) {
  recorder.setProfiling(true);
  for (let i = 0; i < reps; i++) {
    if (flush) fill(flush, i);
    run();
  }
  const t = await recorder.takeTimings();
  recorder.setProfiling(false);
  const per = t.length / reps;
  const skip = flush ? 1 : 0;
  const runs = Array.from({ length: reps }, (_, r) => t.slice(r * per + skip, (r + 1) * per).reduce((a, x) => a + x.ns, 0) / 1e6);
  return runs.sort((a, b) => a - b)[reps >> 1];
}

/** Compiles every variant (one run each; those the device or the kernel rejects are dropped), warms the GPU, times the rest. */
async function sweep(variants, run) {
  const ok = [];
  for (const v of variants) {
    try {
      run(v);
      await engine.sync();
      ok.push(v);
    } catch (e) {
      if (v === 'simt' || v === 'sg') throw e;
    }
  }
  const warm = performance.now();
  while (performance.now() - warm < 200) {
    for (let i = 0; i < 5; i++) run('simt');
    await engine.sync();
  }
  const times = {};
  for (const v of ok) times[v] = await gpuMs(() => run(v));
  return times;
}

const best = (times) => Object.entries(times).filter(([v]) => v.startsWith('sg')).sort((a, b) => a[1] - b[1])[0] ?? ['-', Infinity];
const ops = ['fwd', 'dgrad', 'wgrad'];
const totals = Object.fromEntries(ops.map((op) => [op, { simt: 0, tc: 0, best: 0, min: 0 }]));
const rows = [];
const fastest = {};
const OP_NAMES = { fwd: 'conv2d', dgrad: 'conv2dInputGrad', wgrad: 'conv2dWeightGrad' };
let timed = 0;
const cell = (v, w) => (typeof v === 'number' ? v.toFixed(3) : v).padStart(w);
console.log(`\nyolov8n convolutions, f16, batch ${n}: ms per launch — SIMT default, tensor-core default, best tensor-core tile`);
console.log(`${'layer'.padEnd(16)}${'x'.padStart(3)}${ops.map((op) => `${cell(`${op} simt`, 11)}${cell('tc', 8)}${cell('best', 8)} ${'tile'.padEnd(16)}`).join('')}`);
for (const s of small ? shapes.slice(-3) : shapes) {
  if (performance.now() > deadline) break;
  const h = small ? 32 : s.h;
  const w = small ? 32 : s.w;
  const xs = [n, h, w, s.cin];
  const ws = [s.cout, s.k, s.k, s.cin];
  const o = { stride: s.stride, padding: s.pad };
  const geo = convGeometry(xs, ws, o);
  const x = Tensor.fromHost(engine, stored(benchData(size(xs), 1), 'f16'), xs, 'f16', 'input');
  const wt = Tensor.fromHost(engine, stored(benchData(size(ws), 2).map((v) => v / 4), 'f16'), ws, 'f16', 'params');
  const dy = Tensor.fromHost(engine, stored(benchData(n * geo.ho * geo.wo * s.cout, 3), 'f16'), [n, geo.ho, geo.wo, s.cout], 'f16', 'input');
  const y = Tensor.empty(engine, dy.shape, 'f16', 'activations');
  const row = { name: s.name, count: s.count };
  const tc = (candidates) => (fragment ? ['sg', ...candidates] : []);
  const candidates = (op) => tc(tileCandidates(op, s.cin, s.cout, s.groups));
  row.fwd = await sweep(['simt', ...candidates('conv2d')], (variant) => conv2d(x, wt, { ...o, out: y, variant }));
  row.dgrad = await sweep(['simt', ...candidates('conv2dInputGrad')], (variant) => conv2dInputGrad(dy, wt, xs, { ...o, variant }).dispose());
  row.wgrad = await sweep(['simt', ...candidates('conv2dWeightGrad')], (variant) => conv2dWeightGrad(dy, x, ws, { ...o, variant }).dispose());
  for (const t of [x, wt, dy, y]) t.dispose();
  const parts = [];
  for (const op of ops) {
    const t = row[op];
    const [tile, ms] = best(t);
    totals[op].simt += t.simt * s.count;
    totals[op].tc += (t.sg ?? Infinity) * s.count;
    totals[op].best += ms * s.count;
    totals[op].min += Math.min(ms, t.simt) * s.count;
    fastest[convShapeKey(OP_NAMES[op], 'f16', geo)] = ms < t.simt ? tile : 'simt';
    parts.push(`${cell(t.simt, 11)}${cell(t.sg ?? '-', 8)}${cell(Number.isFinite(ms) ? ms : '-', 8)} ${tile.padEnd(16)}`);
  }
  rows.push(row);
  timed++;
  console.log(`${s.name.padEnd(16)}${String(s.count).padStart(3)}${parts.join('')}`);
}
if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify({ batch: n, rows, totals }, null, 1));
if (variantsAt >= 0) writeFileSync(args[variantsAt + 1], JSON.stringify(fastest, null, 1));
console.log(`\ntime-weighted over ${timed} of ${shapes.length} shapes (ms per step):`);
console.log(`${'op'.padEnd(8)}${cell('SIMT', 9)}${cell('TC default', 12)}${cell('TC best', 9)}${cell('min(SIMT, TC best)', 20)}`);
for (const op of ops) console.log(`${op.padEnd(8)}${cell(totals[op].simt, 9)}${cell(totals[op].tc, 12)}${cell(totals[op].best, 9)}${cell(totals[op].min, 20)}`);
finish();
