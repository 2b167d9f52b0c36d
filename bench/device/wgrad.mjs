// The SIMT conv weight gradient on the GPU host (issue 4): first checks it against the float64 CPU
// reference on awkward shapes (f32 and f16, default tiles), then times yolov8n's convolutions at
// batch B, 640x640: the default tiles next to forced alternatives (`--variants`, conv2dWeightGrad's
// BMxBN:TMxTN:BK[/1|/2] format), per layer and time-weighted by how often each shape occurs.
//
//   node bench/device/wgrad.mjs [--batch 64] [--seconds 120] [--variants "64x64:8x8:16/2,..."] [--dtype f32|f16] [--small] [--out PATH]
// Rows print as they finish; shapes left when --seconds have passed are skipped (totals cover the rows shown).
import { readFileSync } from 'node:fs';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { convGeometry } from '../../dist/src/kernels/conv2d.js';
import { conv2dWeightGrad } from '../../dist/src/kernels/conv2d-backward.js';
import { conv2dWeightGradCpu } from '../../dist/src/kernels/conv2d-backward.cpu.js';
import { fill } from '../../dist/src/kernels/copy.js';
import { hostTensor } from '../../dist/src/kernels/host-tensor.js';
import { medianMs } from '../../dist/src/kernels/bench/timing.js';
import { benchData, check, convCase, dtypes, engine, finish, size, small, stored } from './kernel-check.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const batch = Number(arg('--batch', 64));
const deadline = performance.now() + 1000 * Number(arg('--seconds', 120));
const variants = ['default', ...arg('--variants', '64x64:8x8:16/2,64x128:8x8:32/1,64x64:8x8:8/2').split(',').filter(Boolean)];

// 1. Checks: odd sizes, padding, stride, groups, Cin 3, tiny images.
const CASES = [
  { n: 2, h: 11, w: 9, cin: 5, cout: 7, k: 3, s: 1, p: 1, g: 1 },
  { n: 1, h: 13, w: 10, cin: 3, cout: 16, k: 3, s: 2, p: 1, g: 1 },
  { n: 9, h: 3, w: 2, cin: 8, cout: 12, k: 3, s: 1, p: 1, g: 1 },
  { n: 3, h: 33, w: 31, cin: 64, cout: 64, k: 3, s: 2, p: 1, g: 1 },
  { n: 2, h: 17, w: 15, cin: 96, cout: 80, k: 1, s: 1, p: 0, g: 1 },
];
for (const dtype of dtypes) {
  for (const [i, c] of CASES.entries()) {
    const { xs, ws, o, ys } = convCase(c);
    const xd = stored(benchData(size(xs), 10 + i), dtype);
    const dyd = stored(benchData(size(ys), 30 + i), dtype);
    const x = Tensor.fromHost(engine, xd, xs, dtype, 'input');
    const dy = Tensor.fromHost(engine, dyd, ys, dtype, 'input');
    const dw = conv2dWeightGrad(dy, x, ws, o);
    await check(`weight grad ${dtype} [${xs}] k${c.k} s${c.s} p${c.p} -> ${c.cout}`, dw, conv2dWeightGradCpu(hostTensor(ys, dyd), hostTensor(xs, xd), ws, o).data, 1e-4, 1e-3);
    for (const t of [x, dy, dw]) t.dispose();
  }
}

// 2. Timing: yolov8n's convolutions (not the depthwise ones: none in yolov8n), every variant.
const shapes = JSON.parse(readFileSync(new URL('../shapes/yolov8n-convs.json', import.meta.url), 'utf8')).filter((s) => s.groups === 1);
const reps = small ? 2 : 10;
const n = small ? 1 : batch;
const cell = (v, w) => (typeof v === 'number' ? v.toFixed(3) : v).padStart(w);
const summary = [];
for (const dtype of dtypes.filter((d) => d === arg('--dtype', d))) {
  const totals = variants.map(() => 0);
  let best = 0;
  let timed = 0;
  console.log(`\nyolov8n weight gradients, ${dtype}, batch ${n}, 640: ms per launch (split reduction included)`);
  console.log(`${'layer'.padEnd(18)}${'x'.padStart(3)}${variants.map((v) => cell(v, 16)).join('')}`);
  for (const s of small ? shapes.slice(0, 3) : shapes) {
    if (performance.now() > deadline) break;
    const c = { h: small ? 32 : s.h, w: small ? 32 : s.w };
    const xs = [n, c.h, c.w, s.cin];
    const ws = [s.cout, s.k, s.k, s.cin];
    const o = { stride: s.stride, padding: s.pad };
    const geo = convGeometry(xs, ws, o);
    const x = Tensor.empty(engine, xs, dtype, 'input');
    const dy = Tensor.empty(engine, [n, geo.ho, geo.wo, s.cout], dtype, 'input');
    fill(x, 0.5);
    fill(dy, -0.25);
    const ms = [];
    for (const variant of variants) {
      const run = () => conv2dWeightGrad(dy, x, ws, { ...o, variant: variant === 'default' ? undefined : variant }).dispose();
      ms.push(await medianMs(engine, run, reps).catch(() => NaN)); // a variant too big for this device reads NaN
    }
    x.dispose();
    dy.dispose();
    ms.forEach((v, i) => (totals[i] += (Number.isNaN(v) ? ms[0] : v) * s.count));
    best += Math.min(...ms.filter((v) => !Number.isNaN(v))) * s.count;
    timed++;
    console.log(`${s.name.padEnd(18)}${String(s.count).padStart(3)}${ms.map((v) => cell(v, 16)).join('')}`);
  }
  summary.push(`${dtype}: ${variants.map((v, i) => `${v} ${totals[i].toFixed(2)}`).join(', ')}, best per layer ${best.toFixed(2)} ms (${timed} of ${shapes.length} shapes)`);
}
console.log('\ntime-weighted weight-gradient totals, ms per step-equivalent:');
for (const line of summary) console.log(`  ${line}`);
finish();
