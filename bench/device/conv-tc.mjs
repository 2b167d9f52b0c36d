// Tensor-core convolutions (opt-in: conv2d's variant `sg`) on the GPU host (issue 4): first checks
// them against the float64 CPU references on awkward shapes (forward with f16 and f32 weights,
// input and weight gradients), then times yolov8n's convolutions at batch B, 640x640, f16: the
// tensor-core kernels next to the default SIMT ones (forward and weight gradient), time-weighted.
//
//   node bench/device/conv-tc.mjs [--batch 16] [--seconds 90] [--small] [--out $OUT/conv-tc.json]
// Timing rows print as they finish; shapes left when --seconds have passed are skipped (totals cover the rows shown).
// Harness (checks, report, --small for a dry run on a CPU driver): kernel-check.mjs.
import { readFileSync } from 'node:fs';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { conv2d, convGeometry } from '../../dist/src/kernels/conv2d.js';
import { conv2dInputGrad, conv2dWeightGrad } from '../../dist/src/kernels/conv2d-backward.js';
import { conv2dCpu } from '../../dist/src/kernels/conv2d.cpu.js';
import { conv2dInputGradCpu, conv2dWeightGradCpu } from '../../dist/src/kernels/conv2d-backward.cpu.js';
import { hostTensor } from '../../dist/src/kernels/host-tensor.js';
import { sweepConv } from '../../dist/src/kernels/bench/conv-bench.js';
import { medianMs } from '../../dist/src/kernels/bench/timing.js';
import { subgroupFragment } from '../../dist/src/kernels/matmul.js';
import { benchData, check, convCase, engine, finish, size, small, stored } from './kernel-check.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const batch = arg('--batch', 16);
const deadline = performance.now() + 1000 * arg('--seconds', 90);
const fragment = subgroupFragment(engine);
console.log(`tensor-core fragment: ${JSON.stringify(fragment)}`);
if (!fragment) {
  console.log('this device has no f16 subgroup matrices: nothing to check or time');
  finish();
}

// 1. Checks: odd sizes, strides, padding, groups, Cin 3, Cout not a multiple of 16, f32 weights.
const CASES = [
  { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, s: 1, p: 1, g: 1 },
  { n: 1, h: 13, w: 10, cin: 3, cout: 16, k: 3, s: 2, p: 1, g: 1 },
  { n: 2, h: 9, w: 11, cin: 32, cout: 80, k: 3, s: 1, p: 1, g: 1 },
  { n: 2, h: 7, w: 8, cin: 12, cout: 130, k: 1, s: 1, p: 0, g: 1 },
  { n: 1, h: 9, w: 9, cin: 16, cout: 8, k: 3, s: 1, p: 1, g: 2 },
  { n: 3, h: 33, w: 31, cin: 64, cout: 64, k: 3, s: 2, p: 1, g: 1 },
];
for (const [i, c] of CASES.entries()) {
  const { xs, ws, o, ys } = convCase(c);
  const xd = stored(benchData(size(xs), 10 + i), 'f16');
  const wd = stored(benchData(size(ws), 20 + i).map((v) => v / 2), 'f16');
  const dyd = stored(benchData(size(ys), 30 + i), 'f16');
  const x = Tensor.fromHost(engine, xd, xs, 'f16', 'input');
  const dy = Tensor.fromHost(engine, dyd, ys, 'f16', 'input');
  const label = `[${xs}] k${c.k} s${c.s} p${c.p} g${c.g} -> ${c.cout}`;
  const refY = conv2dCpu(hostTensor(xs, xd), hostTensor(ws, wd), o).data;
  for (const wType of ['f16', 'f32']) {
    const w = Tensor.fromHost(engine, wd, ws, wType, 'params');
    const y = conv2d(x, w, { ...o, outDtype: 'f32', variant: 'sg' });
    await check(`conv2d ${label} (${wType} weight)`, y, refY, 2e-3, 2e-3);
    y.dispose();
    w.dispose();
  }
  const w = Tensor.fromHost(engine, wd, ws, 'f16', 'params');
  const dx = conv2dInputGrad(dy, w, xs, { ...o, dtype: 'f32', variant: 'sg' });
  await check(`input grad ${label}`, dx, conv2dInputGradCpu(hostTensor(ys, dyd), hostTensor(ws, wd), xs, o).data, 2e-3, 2e-3);
  const dw = conv2dWeightGrad(dy, x, ws, { ...o, variant: 'sg' });
  await check(`weight grad ${label}`, dw, conv2dWeightGradCpu(hostTensor(ys, dyd), hostTensor(xs, xd), ws, o).data, 2e-3, 2e-2);
  for (const t of [x, dy, w, dx, dw]) t.dispose();
}

// 2. Timing: yolov8n's convolutions, tensor cores against SIMT, time-weighted by how often each shape occurs.
const shapes = JSON.parse(readFileSync(new URL('../shapes/yolov8n-convs.json', import.meta.url), 'utf8')).filter((s) => s.groups === 1);
const reps = small ? 2 : 10;
const n = small ? 1 : batch;
const totals = { fwdTc: 0, fwdSimt: 0, wgTc: 0, wgSimt: 0 };
let timed = 0;
const cell = (v, w) => (typeof v === 'number' ? v.toFixed(3) : v).padStart(w);
console.log(`\nyolov8n convolutions, f16, batch ${n}: ms per launch (tensor cores / SIMT)`);
console.log(`${'layer'.padEnd(18)}${'x'.padStart(3)}${cell('fwd tc', 9)}${cell('fwd simt', 10)}${cell('wgrad tc', 10)}${cell('wgrad simt', 12)}${'tc rel err'.padStart(12)}`);
for (const s of small ? shapes.slice(0, 3) : shapes) {
  if (performance.now() > deadline) break;
  const c = { n, h: small ? 32 : s.h, w: small ? 32 : s.w, cin: s.cin, cout: s.cout, k: s.k, stride: s.stride, pad: s.pad, groups: 1, dtype: 'f16', reps };
  const [tc, simt] = await sweepConv(engine, c, ['sg', undefined]);
  const xs = [c.n, c.h, c.w, c.cin];
  const ws = [c.cout, c.k, c.k, c.cin];
  const geo = convGeometry(xs, ws, { stride: c.stride, padding: c.pad });
  const x = Tensor.fromHost(engine, stored(benchData(size(xs), 1), 'f16'), xs, 'f16', 'input');
  const dy = Tensor.fromHost(engine, stored(benchData(c.n * geo.ho * geo.wo * c.cout, 2), 'f16'), [c.n, geo.ho, geo.wo, c.cout], 'f16', 'input');
  const wg = (variant) => medianMs(engine, () => conv2dWeightGrad(dy, x, ws, { stride: c.stride, padding: c.pad, variant }).dispose(), reps);
  const [wgTc, wgSimt] = [await wg('sg'), await wg(undefined)];
  x.dispose();
  dy.dispose();
  totals.fwdTc += tc.ms * s.count;
  totals.fwdSimt += simt.ms * s.count;
  totals.wgTc += wgTc * s.count;
  totals.wgSimt += wgSimt * s.count;
  timed++;
  console.log(`${s.name.padEnd(18)}${String(s.count).padStart(3)}${cell(tc.ms, 9)}${cell(simt.ms, 10)}${cell(wgTc, 10)}${cell(wgSimt, 12)}${tc.maxRelErr.toExponential(1).padStart(12)}`);
}
console.log(`time-weighted over ${timed} of ${shapes.length} shapes: forward ${totals.fwdTc.toFixed(2)} ms (tensor cores) vs ${totals.fwdSimt.toFixed(2)} (SIMT); weight grad ${totals.wgTc.toFixed(2)} vs ${totals.wgSimt.toFixed(2)}`);
finish();
